"""The relay against real PostgreSQL and each broker, including crashes and concurrent relays (broker outages:
test_broker_restart.py)."""

import time
from collections import defaultdict

import django_events
from django_events.models import OutboxEvent
from tests.conftest import (
    Worker,
    consume_until,
    publish_ticks,
    read_topic,
    relay_until_empty,
)
from tests.testapp.models import Applied


def test_the_relay_delivers_committed_events_with_headers_and_marks_them_sent(live):
    published = publish_ticks(keys=3, per_key=5)

    assert relay_until_empty() == 15

    messages = read_topic(django_events.topic_for("tick.happened"), 15)
    assert sorted(m.value for m in messages) == sorted(e.to_json().encode() for e in published)
    sent = {e.to_json().encode(): e for e in published}
    for message in messages:  # the relay sends them from the outbox's columns: the same as the envelope's own
        assert dict(message.headers) == dict(sent[message.value].headers())
    assert dict(messages[0].headers)["event_type"] == b"tick.happened"
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_each_key_keeps_its_order(live):
    publish_ticks(keys=4, per_key=50)
    relay_until_empty()

    by_key = defaultdict(list)
    for message in read_topic(django_events.topic_for("tick.happened"), 200):
        by_key[message.key].append(django_events.Event.from_json(message.value).data["seq"])
    assert all(seqs == list(range(50)) for seqs in by_key.values()) and len(by_key) == 4


def test_a_relay_killed_between_send_and_mark_resends_and_the_duplicate_applies_once(live):
    published = publish_ticks(keys=2, per_key=10)

    crashed = Worker("events_relay", live, failpoints="relay.after_send")
    assert crashed.wait(60) == -9
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 20  # sent, but not marked

    relay_until_empty()
    assert len(read_topic(django_events.topic_for("tick.happened"), 40)) == 40  # every event twice in the log

    consume_until(lambda: Applied.objects.count() >= 20)
    time.sleep(1)
    assert sorted(Applied.objects.values_list("event_id", flat=True)) == sorted(e.id for e in published)


def test_resend_sent_sends_the_retained_outbox_again_in_key_order_and_it_applies_once(live):
    """For a broker that lost its log: `events_relay --resend-sent` sends every retained row again."""
    publish_ticks(keys=2, per_key=5)
    relay_until_empty()
    consume_until(lambda: Applied.objects.count() >= 10)

    relay = Worker("events_relay", live, "--resend-sent")
    try:
        messages = read_topic(django_events.topic_for("tick.happened"), 20)
    finally:
        relay.terminate()
        assert relay.wait(30) == 0
    by_key = defaultdict(list)
    for message in messages:
        by_key[message.key].append(django_events.Event.from_json(message.value).data["seq"])
    assert all(seqs == [*range(5), *range(5)] for seqs in by_key.values()) and len(by_key) == 2

    consume_until(lambda: Applied.objects.count() >= 10)
    time.sleep(1)
    assert Applied.objects.count() == 10


def test_two_relays_at_once_lose_nothing_duplicate_nothing_and_keep_key_order(live):
    relays = [Worker("events_relay", live) for _ in range(2)]
    try:
        for relay in relays:
            relay.wait_ready()
        for chunk in range(20):
            publish_ticks(keys=10, per_key=10, start=chunk * 10)
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(sent_at__isnull=True).exists():
            assert time.monotonic() < deadline, "relays did not drain the outbox"
            time.sleep(0.1)
    finally:
        for relay in relays:
            relay.terminate()
        assert [relay.wait(30) for relay in relays] == [0, 0]

    by_key = defaultdict(list)
    for message in read_topic(django_events.topic_for("tick.happened"), 2000):
        by_key[message.key].append(django_events.Event.from_json(message.value).data["seq"])
    assert set(by_key) == {f"key-{k}".encode() for k in range(10)}
    assert all(seqs == list(range(200)) for seqs in by_key.values())
