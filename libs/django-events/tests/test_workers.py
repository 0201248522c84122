"""The worker processes (`events_consume`, `events_relay`): health endpoint, graceful shutdown, rebalances."""

import signal
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import TopicPartition
from django.db import transaction

import django_events
from django_events.conf import events_settings
from django_events.kafka import client_config
from django_events.models import OutboxEvent, StreamOffset
from tests.conftest import Worker, publish_ticks, read_topic, relay_until_empty, with_overrides
from tests.testapp.models import Applied

# librdkafka's smallest max.poll.interval.ms is the session timeout: the consumer health limit follows it.
SHORT_POLL_INTERVAL = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 6000}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""  # not listening yet


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def publish_slow_tick(seconds: float, key: str = "slow") -> django_events.Event:
    with transaction.atomic():
        return django_events.publish("tick.happened", key=key, data={"seq": 0, "sleep": seconds})


def stop(worker: Worker, timeout: float = 30) -> int:
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout)


def test_the_consumer_serves_metrics_and_reports_a_stalled_loop_as_503(live):
    port = free_port()
    publish_ticks(keys=1, per_key=1)
    slow = publish_slow_tick(8.0)  # past max.poll.interval.ms: the loop does not turn meanwhile
    relay_until_empty()
    worker = Worker("events_consume", with_overrides(live, CONSUMER=SHORT_POLL_INTERVAL), "--metrics-port", str(port))
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 90, "/healthz to answer")
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and b"django_events_consumer_processed_total" in body
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404

        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz") == (503, b'{"status":"stalled"}'), 20, "a 503")
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 20, "recovery once the handler returned")
        later = publish_ticks(keys=1, per_key=1, start=1)  # the partition is not stuck
        relay_until_empty()
        wait_for(lambda: Applied.objects.filter(event_id=later[0].id).exists(), 30, "a later event")
    finally:
        assert stop(worker) == 0, worker.log().decode()[-2000:]
    assert Applied.objects.filter(event_id=slow.id).count() == 1


def test_the_consumer_is_ready_once_it_holds_its_partitions_and_events_then_reach_it(live, tmp_path):
    """Its ready file and /readyz are what a supervisor waits for before saying the platform is ready."""
    port, ready_file = free_port(), tmp_path / "consumer.ready"
    ready_file.write_text("left by a consumer that was killed")
    worker = Worker("events_consume", live, "--metrics-port", str(port), "--ready-file", str(ready_file))
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz") == (200, b'{"status":"ready"}'), 60, "/readyz")
        # Its own file, not the one it found.
        wait_for(lambda: ready_file.exists() and ready_file.read_text() == "", 10, "the ready file")
        [event] = publish_ticks(keys=1, per_key=1)
        relay_until_empty()
        wait_for(lambda: Applied.objects.filter(event_id=event.id).exists(), 30, "the event")
    finally:
        assert stop(worker) == 0, worker.log().decode()[-2000:]
    assert not ready_file.exists()


def committed_offsets(topic: str) -> dict[int, int]:
    reader = KafkaConsumer(client_config(**{"group.id": events_settings.GROUP_ID}))
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        committed = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in committed}
    finally:
        reader.close()


def end_offsets(topic: str) -> dict[int, int]:
    reader = KafkaConsumer(client_config(**{"group.id": f"ends-{uuid.uuid4()}"}))
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        reader.close()


def test_sigterm_mid_batch_lets_the_consumer_finish_it_commit_its_offsets_and_exit_0(live, transport):
    published = publish_ticks(keys=3, per_key=5)
    relay_until_empty()
    worker = Worker("events_consume", live)
    try:
        wait_for(lambda: Applied.objects.count() >= 15, 30, "the quick events")
        slow = publish_slow_tick(3.0)
        relay_until_empty()
        time.sleep(1.0)  # the consumer has the slow event now: its handler is sleeping
        assert not Applied.objects.filter(event_id=slow.id).exists()
    finally:
        assert stop(worker) == 0, worker.log().decode()[-2000:]

    assert sorted(Applied.objects.values_list("event_id", flat=True)) == sorted(e.id for e in [*published, slow])
    topic = django_events.topic_for("tick.happened")
    if transport == "rabbitmq":  # the group's offsets are rows of the database: one past each stream's last message
        stored = StreamOffset.objects.filter(group=events_settings.GROUP_ID, stream__startswith=f"{topic}.")
        assert sum(stored.values_list("next_offset", flat=True)) == len(published) + 1
        return
    ends = end_offsets(topic)
    assert committed_offsets(topic) == {p: end for p, end in ends.items() if end > 0} | {
        p: -1001 for p, end in ends.items() if end == 0  # OFFSET_INVALID: nothing ever consumed there
    }


def test_sigterm_stops_the_relay_with_exit_0_and_nothing_marked_sent_that_kafka_lacks(live):
    publish_ticks(keys=10, per_key=300)
    worker = Worker("events_relay", with_overrides(live, RELAY_BATCH_SIZE=100))  # a stop between batches
    wait_for(lambda: OutboxEvent.objects.filter(sent_at__isnull=False).exists(), 30, "the first batch")
    assert stop(worker) == 0, worker.log().decode()[-2000:]

    sent = set(OutboxEvent.objects.filter(sent_at__isnull=False).values_list("event_id", flat=True))
    in_kafka = {
        uuid.UUID(dict(m.headers)["event_id"].decode())
        for m in read_topic(django_events.topic_for("tick.happened"), len(sent), timeout=20)
    }
    assert sent and sent <= in_kafka


def test_a_consumer_joining_and_one_leaving_mid_stream_lose_nothing_and_apply_nothing_twice(live):
    """The rebalance fault test: accepted = applied once each, in key order, with the group changing twice."""
    relay = Worker("events_relay", live)
    first = Worker("events_consume", live)
    second = None
    published: list[django_events.Event] = []
    try:
        for chunk in range(12):
            published += publish_ticks(keys=8, per_key=25, start=chunk * 25)
            if chunk == 3:
                second = Worker("events_consume", live)
            if chunk == 7:
                assert stop(first) == 0, first.log().decode()[-2000:]
            time.sleep(0.5)
        wait_for(lambda: Applied.objects.count() >= len(published), 90, f"{len(published)} applications")
        time.sleep(1)  # room for a wrongful second application to show
    finally:
        for worker in (relay, first, second):
            if worker is not None and worker.poll() is None:
                assert stop(worker) == 0, worker.log().decode()[-2000:]

    applied = list(Applied.objects.order_by("id").values_list("event_id", "key", "seq"))
    assert sorted(event_id for event_id, _, _ in applied) == sorted(e.id for e in published)  # none lost, none twice
    by_key = defaultdict(list)
    for _, key, seq in applied:
        by_key[key].append(seq)
    assert all(seqs == list(range(300)) for seqs in by_key.values()) and len(by_key) == 8


def test_counters_exist_at_zero_before_anything_happens(settings):
    """A healthy system shows 0 failures on the dashboard, not "No data"."""
    from prometheus_client import REGISTRY

    from django_events.consumer import Consumer
    from django_events.registry import registry
    from django_events.relay import Relay

    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "SERVICE": "zero-service"}
    Relay()
    Consumer()
    service = {"service": "zero-service"}
    for counter in ("relay_sent", "relay_failed", "consumer_retried"):
        assert REGISTRY.get_sample_value(f"django_events_{counter}_total", service) == 0, counter
    for event_type in registry.event_types():
        for counter in ("consumer_processed", "consumer_dead_lettered"):
            assert REGISTRY.get_sample_value(f"django_events_{counter}_total", {**service, "type": event_type}) == 0
