"""The relay against real PostgreSQL and Kafka, including crashes and concurrent relays."""

import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

import django_events
from django_events.models import OutboxEvent
from tests.conftest import (
    consume_until,
    publish_ticks,
    read_topic,
    relay_until_empty,
    start_worker,
    wait_until_relays_listen,
)
from tests.testapp.models import Applied

ROOT = Path(__file__).resolve().parents[3]


def test_the_relay_delivers_committed_events_with_headers_and_marks_them_sent(live):
    published = publish_ticks(keys=3, per_key=5)

    assert relay_until_empty() == 15

    messages = read_topic(django_events.topic_for("tick.happened"), 15)
    assert sorted(m.value for m in messages) == sorted(e.to_json().encode() for e in published)
    headers = dict(messages[0].headers)
    assert set(headers) == {"event_id", "event_type", "event_version"}
    assert headers["event_type"] == b"tick.happened"
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

    crashed = start_worker("events_relay", live, failpoints="relay.after_send")
    assert crashed.wait(60) == -9
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 20  # sent, but not marked

    relay_until_empty()
    assert len(read_topic(django_events.topic_for("tick.happened"), 40)) == 40  # every event twice in the log

    consume_until(lambda: Applied.objects.count() >= 20)
    time.sleep(1)
    assert sorted(Applied.objects.values_list("event_id", flat=True)) == sorted(e.id for e in published)


def test_two_relays_at_once_lose_nothing_duplicate_nothing_and_keep_key_order(live):
    relays = [start_worker("events_relay", live) for _ in range(2)]
    try:
        wait_until_relays_listen(2)
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
    assert sorted(by_key) == sorted(f"key-{k}".encode() for k in range(10))
    assert all(seqs == list(range(200)) for seqs in by_key.values())


@pytest.fixture
def second_broker(tmp_path):
    """A broker of our own to stop and start, so the shared one keeps serving other tests."""
    port = 19292
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_HOME": str(tmp_path / "kafka")}
    (tmp_path / "kafka").mkdir()
    jars = ROOT / ".cache" / "kafka" / "libs"
    if jars.is_dir():  # else (the shared broker runs from another checkout) kafka-up fetches them
        (tmp_path / "kafka" / "libs").symlink_to(jars)
    infra = ["bash", str(ROOT / "infra" / "infra.sh")]
    yield f"127.0.0.1:{port}", lambda: subprocess.run([*infra, "kafka-up"], env=env, check=True, capture_output=True)
    subprocess.run([*infra, "kafka-down"], env=env, check=False)


def test_events_committed_while_kafka_is_down_are_delivered_once_it_is_up(live, settings, second_broker):
    bootstrap, start_broker = second_broker
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "BOOTSTRAP_SERVERS": bootstrap}
    published = publish_ticks(keys=2, per_key=5)  # committed; no broker is listening

    import json

    relay = start_worker("events_relay", {**live, "DJANGO_EVENTS_OVERRIDES": json.dumps({**json.loads(live["DJANGO_EVENTS_OVERRIDES"]), "BOOTSTRAP_SERVERS": bootstrap})})
    try:
        time.sleep(3)
        assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 10
        start_broker()
        deadline = time.monotonic() + 90
        while OutboxEvent.objects.filter(sent_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the relay did not deliver after the broker came up"
            time.sleep(0.2)
    finally:
        relay.terminate()
        relay.wait(30)

    messages = read_topic(django_events.topic_for("tick.happened"), 10)
    assert sorted(m.value for m in messages) == sorted(e.to_json().encode() for e in published)
