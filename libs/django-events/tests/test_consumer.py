"""The consumer against real PostgreSQL and each broker: exactly-once effect, crashes, poison events."""

import time

import pytest
from prometheus_client import REGISTRY

import django_events
from django_events.consumer import DEAD_LETTER_SUBSCRIBER, Consumer
from django_events.metrics import consumer_dead_lettered
from django_events.models import InboxEvent
from tests.conftest import (
    consume_until,
    publish_raw,
    publish_ticks,
    read_topic,
    relay_until_empty,
    start_worker,
    wait_until,
)
from tests.testapp.models import Applied


def applied_ids():
    return sorted(Applied.objects.values_list("event_id", flat=True))


def test_every_event_is_applied_once(live):
    published = publish_ticks(keys=5, per_key=40)
    relay_until_empty()

    consume_until(lambda: Applied.objects.count() >= 200)

    assert applied_ids() == sorted(e.id for e in published)
    assert InboxEvent.objects.count() == 200


@pytest.mark.parametrize("failpoint", ["consumer.before_commit", "consumer.after_commit"])
def test_a_consumer_killed_mid_batch_applies_every_event_exactly_once(live, failpoint):
    published = publish_ticks(keys=4, per_key=100)
    relay_until_empty()

    small_batches = {**live, "DJANGO_EVENTS_OVERRIDES": live["DJANGO_EVENTS_OVERRIDES"][:-1] + ', "CONSUMER_BATCH_SIZE": 50}'}
    crashed = start_worker("events_consume", small_batches, failpoints=failpoint)
    assert crashed.wait(60) == -9
    assert Applied.objects.count() == (0 if failpoint == "consumer.before_commit" else 50)

    survivor = start_worker("events_consume", live)
    try:
        deadline = time.monotonic() + 60
        while Applied.objects.count() < 400:
            assert time.monotonic() < deadline, f"only {Applied.objects.count()} of 400 applied"
            time.sleep(0.2)
        time.sleep(1)  # room for a wrongful second application to show
    finally:
        survivor.terminate()
        assert survivor.wait(30) == 0, survivor.stderr.read().decode()[-2000:]

    assert applied_ids() == sorted(e.id for e in published)


def test_a_poison_event_is_dead_lettered_and_later_events_still_apply(live):
    published = publish_ticks(keys=1, per_key=6, poison={2})
    relay_until_empty()
    topic = django_events.topic_for("tick.happened")
    publish_raw(topic, key=b"key-0", value=b"not json")
    later = publish_ticks(keys=1, per_key=2, start=6)
    relay_until_empty()
    dead_before = consumer_dead_lettered.labels("testapp", "tick.happened")._value.get()

    consume_until(lambda: Applied.objects.count() >= 7)

    healthy = [e for e in published + later if not e.data.get("poison")]
    assert applied_ids() == sorted(e.id for e in healthy)
    dead = read_topic(topic + ".dlq", 2)
    assert len(dead) == 2
    reasons = sorted(dict(m.headers)["dead_letter_reason"].decode() for m in dead)
    assert reasons[0] == "ValueError: this tick is poison"
    assert reasons[1].startswith("not an event envelope")
    assert consumer_dead_lettered.labels("testapp", "tick.happened")._value.get() == dead_before + 1


def test_an_unknown_version_is_dead_lettered_with_its_reason(live):
    with django_events.correlation("c-1"):
        from django.db import transaction

        with transaction.atomic():
            django_events.publish("tick.happened", key="k", data={"seq": 1}, version=9)
    publish_ticks(keys=1, per_key=1, start=2)
    relay_until_empty()

    # The two events may sit in different partitions: wait for both the healthy one and the dead letter.
    consume_until(
        lambda: Applied.objects.count() >= 1
        and InboxEvent.objects.filter(subscriber=DEAD_LETTER_SUBSCRIBER).exists()
    )

    dead = read_topic(django_events.topic_for("tick.happened") + ".dlq", 1)
    assert dict(dead[0].headers)["dead_letter_reason"] == b"unsupported version 9 of tick.happened"


@pytest.mark.parametrize("transport", ["rabbitmq"], indirect=True)
def test_the_lag_gauge_on_rabbitmq_is_each_streams_end_minus_the_groups_stored_offset(live):
    published = publish_ticks(keys=4, per_key=25)
    relay_until_empty()
    topic = django_events.topic_for("tick.happened")

    def lag() -> list[float | None]:
        consumer.subscription.observe_lag("testapp")
        labels = [{"service": "testapp", "topic": topic, "partition": str(p)} for p in range(4)]
        return [REGISTRY.get_sample_value("django_events_consumer_lag", label) for label in labels]

    consumer = Consumer()
    consumer.batch_size = 10
    try:
        wait_until(lambda: consumer.poll_once(0.5) > 0, "a first batch")
        applied = Applied.objects.count()
        assert 0 < applied < len(published)
        # The broker counts a stream's messages every few seconds: the gauge catches up within that.
        wait_until(lambda: sum(lag()) == len(published) - applied, "the lag of what is not applied yet")

        wait_until(lambda: consumer.poll_once(0.5) == 0 and Applied.objects.count() == len(published), "the rest")
        assert lag() == [0, 0, 0, 0]
    finally:
        consumer.close()
