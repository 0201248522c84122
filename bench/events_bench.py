"""django-events throughput and lag beside bare confluent-kafka, on the real PostgreSQL and Kafka, and the same
phases on RabbitMQ (TRANSPORT = "rabbitmq") side by side.

    eval "$(bash infra/infra.sh up)" && .venv/bin/python bench/events_bench.py [--events 50000]

Creates (and drops first) the database ``bench_events``, uses topics of its own, prints a table and writes
bench/results/events.json. Phases:
  relay       N outbox rows published in large transactions, drained by one Relay; beside it a bare
              confluent-kafka produce loop of the same messages with the same producer settings.
  projection  the Consumer applying those N events to a Projection (an upsert each, inbox rows in the same
              transaction); beside it a bare confluent-kafka consume loop of the same messages.
  lag         relay and consumer running as `events_relay` / `events_consume` processes; a publisher commits
              one event per transaction, idle (spaced ~20 ms) and then at a fixed rate; the lag is from the
              publisher's commit to the consumer's commit that makes the read-model row visible.
  rebuild     events_rebuild's replay of the same N events into a fresh table, swapped in; its rows must be
              those the consumer built. Last: the autovacuum work it leaves would weigh on the lag phase.
Then, on RabbitMQ ($RABBITMQ_URL): the same outbox rows marked unsent again, the inbox and read model emptied,
and relay, projection, lag and rebuild again (without the bare loops).
Last, per-key commit order (KEY_COMMIT_ORDER, on in every phase above) on and off, side by side, on Kafka:
  ordering    publish, relay and projection of --ordering-events fresh events, once with the guarantee on and once
              with it off, each from an emptied outbox, inbox and read model.
  writers     PUBLISHERS processes committing one event per transaction as fast as they can, on 100 keys and on one
              key, with the guarantee on and off: what the per-key lock costs the writers it makes wait.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "events_settings")
DATABASE = os.environ.setdefault("BENCH_DATABASE", "bench_events")
RUN = uuid.uuid4().hex[:8]
PREFIX = f"bench-{RUN}."
os.environ["DJANGO_EVENTS_OVERRIDES"] = json.dumps({"TOPIC_PREFIX": PREFIX, "GROUP_ID": f"{PREFIX}group"})


def recreate_database() -> None:
    import psycopg

    admin_url = os.environ.get("DATABASE_URL", "postgresql://polls:polls@127.0.0.1:5432/polls")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')


recreate_database()

import django  # noqa: E402

django.setup()

import django_events  # noqa: E402
from confluent_kafka import Consumer as KafkaConsumer  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django_events.conf import events_settings  # noqa: E402
from django_events.consumer import Consumer  # noqa: E402
from django_events.envelope import message_headers  # noqa: E402
from django_events.kafka import consumer_config, ensure_topics, producer_config  # noqa: E402
from django_events.models import InboxEvent, OutboxEvent  # noqa: E402
from django_events.projection import find_projection  # noqa: E402
from django_events.rebuild import rebuild  # noqa: E402
from django_events.relay import Relay  # noqa: E402
from django_events.transport import Message, get_transport  # noqa: E402
from events_app.models import ItemView  # noqa: E402
from events_app.projections import BenchUpserted  # noqa: E402

EVENT_TYPE = "bench.upserted"
ITEMS = 10_000  # distinct read-model rows: most events insert, the rest update
PUBLISHERS = 4  # processes publishing during the loaded lag phase


def publish_events(count: int, *, per_transaction: int = 5000) -> float:
    started = time.perf_counter()
    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for n in range(start, min(count, start + per_transaction)):
                item = f"item-{n % ITEMS}"
                django_events.publish(BenchUpserted(id=item, n=n, label=f"label {n:08d}"), key=item)
    return count / (time.perf_counter() - started)


def bench_relay(count: int) -> tuple[float, float]:
    """Returns (relay events/s, bare produce events/s) over the same messages."""
    rows = list(
        OutboxEvent.objects.order_by("seq").values_list("topic", "key", "payload", "event_id", "event_type", "event_version")
    )
    bare_topic = f"{PREFIX}bare"
    ensure_topics([bare_topic, django_events.topic_for(EVENT_TYPE)])

    producer = Producer(producer_config())
    producer.produce(bare_topic, key=b"warm-up", value=b"{}")
    producer.flush(30)
    acked = 0

    def delivered(error: Any, message: Any) -> None:
        nonlocal acked
        if error is None:
            acked += 1

    started = time.perf_counter()
    for _topic, key, payload, event_id, event_type, version in rows:
        headers = message_headers(event_id=event_id, event_type=event_type, version=version, payload=payload)
        while True:
            try:
                producer.produce(bare_topic, key=key.encode(), value=payload.encode(), headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    bare = acked / (time.perf_counter() - started)
    assert acked == count, f"bare producer: {acked} of {count} acknowledged"

    return time_relay(count, bare_topic), bare


def time_relay(count: int, warm_up_topic: str) -> float:
    """Events/s of one Relay draining the outbox, connected before the clock starts."""
    relay = Relay()
    assert relay.publisher.send([Message(warm_up_topic, key=b"warm-up", value=b"{}")], 30) == [None]
    sent = 0
    started = time.perf_counter()
    while batch := relay.send_batch():
        sent += batch
    relayed = sent / (time.perf_counter() - started)
    relay.publisher.close(30)
    assert sent == count and not OutboxEvent.objects.filter(sent_at__isnull=True).exists(), f"relay sent {sent} of {count}"
    return relayed


def timed_after_first_batch(count: int, poll: Callable[[], int]) -> float:
    """Events/s of ``poll`` after its first non-empty batch, so joining the group is not counted."""
    done, started = 0, 0.0
    deadline = time.monotonic() + 300
    while done < count:
        assert time.monotonic() < deadline, f"only {done} of {count} consumed"
        got = poll()
        if got and not started:
            started, count = time.perf_counter(), count - got
            continue
        done += got
    return done / (time.perf_counter() - started)


def bench_projection(count: int) -> tuple[float, float]:
    """Returns (projection events/s, bare consume events/s) over the same messages."""
    topic = django_events.topic_for(EVENT_TYPE)
    bare = KafkaConsumer(consumer_config(**{"group.id": f"{PREFIX}bare-reader", "enable.auto.offset.store": True}))
    bare.subscribe([topic])

    def bare_poll() -> int:
        messages = [m for m in bare.consume(events_settings.CONSUMER_BATCH_SIZE, 0.5) if m.error() is None]
        for message in messages:  # what any consumer does at least: decode each message
            json.loads(message.value())
        return len(messages)

    try:
        bare_eps = timed_after_first_batch(count, bare_poll)
    finally:
        bare.close()

    return time_projection(count), bare_eps


def time_projection(count: int) -> float:
    consumer = Consumer()
    try:
        projection_eps = timed_after_first_batch(count, lambda: consumer.poll_once(0.5))
    finally:
        consumer.close()
    assert ItemView.objects.count() == min(count, ITEMS)
    return projection_eps


def read_model() -> list[tuple[Any, ...]]:
    return sorted(ItemView.objects.values_list("id", "n", "label"))


def bench_rebuild(count: int, built: list[tuple[Any, ...]]) -> float:
    """Events/s of events_rebuild replaying the projection's topic into a fresh table and swapping it in; the
    result must be ``built``, the read model the consumer built from the same events."""
    started = time.perf_counter()
    replayed = rebuild(find_projection("ItemProjection"))
    eps = replayed / (time.perf_counter() - started)
    assert replayed == count and read_model() == built, "the rebuilt read model differs from the consumer's"
    return eps


def start_worker(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "django", command], cwd=BENCH, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_lag(idle_events: int, idle_gap: float, rate: int, seconds: float, transport: str = "kafka") -> dict[str, float]:
    prefix = f"bench-{RUN}-lag-{transport}."
    overrides = {"TOPIC_PREFIX": prefix, "GROUP_ID": f"{prefix}group", "TRANSPORT": transport}
    lag_file = Path(tempfile.mkdtemp()) / "visible.txt"
    lag_file.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_EVENTS_OVERRIDES": json.dumps(overrides),
        "BENCH_LAG_FILE": str(lag_file),
    }
    from django.test.utils import override_settings

    committed: dict[str, float] = {}

    def publish_one(n: int) -> None:
        with transaction.atomic():
            event = django_events.publish(BenchUpserted(id=f"lag-{n % 100}", n=n, label="lag"), key=f"lag-{n % 100}")
        committed[str(event.id)] = time.time()

    def visible() -> dict[str, float]:
        seen = {}
        for line in lag_file.read_text().splitlines():
            event_id, at = line.split()
            seen[event_id] = float(at)
        return seen

    def wait_until_visible(ids: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while not ids <= (seen := visible()).keys() and time.monotonic() < deadline:
            time.sleep(0.1)
        return seen

    with override_settings(DJANGO_EVENTS={**events_settings.user_settings, **overrides}):
        get_transport().ensure_topics([django_events.topic_for(EVENT_TYPE)])
        workers = [start_worker("events_relay", env), start_worker("events_consume", env)]
        try:
            publish_one(-1)  # the consumer has joined its group once this one is visible
            seen = wait_until_visible(set(committed), 60)
            assert set(committed) <= seen.keys(), "the lag benchmark's first event never became visible"
            committed.clear()

            for n in range(idle_events):
                publish_one(n)
                time.sleep(idle_gap)
            idle_ids = set(committed)
            seen = wait_until_visible(idle_ids, 30)
            idle = [seen[i] - committed[i] for i in idle_ids if i in seen]

            committed.clear()
            started = time.perf_counter()
            total = int(rate * seconds)

            def publisher(first: int, results: Any) -> None:
                # Several publishers, like a web server's worker processes: one alone waits out every commit.
                for n in range(first, total, PUBLISHERS):
                    pause = started + n / rate - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    publish_one(n)
                results.put(committed)

            for result in in_publisher_processes(publisher, timeout=seconds + 120):
                committed.update(result)
            achieved_rate = len(committed) / (time.perf_counter() - started)
            loaded_ids = set(committed)
            seen = wait_until_visible(loaded_ids, 60)
            loaded = [seen[i] - committed[i] for i in loaded_ids if i in seen]
        finally:
            for worker in workers:
                worker.terminate()
            codes = [worker.wait(30) for worker in workers]
    assert codes == [0, 0], f"workers exited with {codes}: {[w.stderr.read().decode()[-1000:] for w in workers]}"
    assert len(idle) == len(idle_ids) and len(loaded) == len(loaded_ids), "some events never became visible"
    ms = 1000.0
    return {
        "lag_idle_p50_ms": percentile(idle, 50) * ms,
        "lag_idle_p99_ms": percentile(idle, 99) * ms,
        "lag_idle_max_ms": max(idle) * ms,
        "lag_idle_events": len(idle),
        "lag_500eps_p50_ms": percentile(loaded, 50) * ms,
        "lag_500eps_p99_ms": percentile(loaded, 99) * ms,
        "lag_500eps_max_ms": max(loaded) * ms,
        "lag_500eps_events": len(loaded),
        "lag_500eps_achieved_rate": achieved_rate,
    }


TARGETS = {
    "relay_eps": (">=", 10_000),
    "projection_eps": (">=", 5_000),
    "lag_idle_p99_ms": ("<", 50),
    "lag_500eps_p99_ms": ("<", 250),
}


def ordering_settings(prefix: str, ordered: bool) -> dict[str, Any]:
    return {**events_settings.user_settings, "KEY_COMMIT_ORDER": ordered, "TOPIC_PREFIX": prefix, "GROUP_ID": f"{prefix}group"}


def bench_ordered(count: int, ordered: bool) -> dict[str, float]:
    """Publish, relay and projection of ``count`` fresh events, on Kafka, from an empty outbox, inbox and read
    model, with KEY_COMMIT_ORDER ``ordered``."""
    from django.test.utils import override_settings

    OutboxEvent.objects.all().delete()
    InboxEvent.objects.all().delete()
    ItemView.objects.all().delete()
    with connection.cursor() as cursor:  # each run starts from tables without the previous one's dead rows
        cursor.execute(f"VACUUM ANALYZE {OutboxEvent._meta.db_table}, {InboxEvent._meta.db_table}, {ItemView._meta.db_table}")
    prefix = f"bench-{RUN}-ordered-{ordered}."
    results: dict[str, float] = {}
    with override_settings(DJANGO_EVENTS=ordering_settings(prefix, ordered)):
        ensure_topics([django_events.topic_for(EVENT_TYPE), f"{prefix}warm-up"])
        results["publish_eps"] = publish_events(count)
        results["relay_eps"] = time_relay(count, f"{prefix}warm-up")
        results["projection_eps"] = time_projection(count)
    return results


def in_publisher_processes(target: Callable[[int, Any], None], *, timeout: float) -> list[Any]:
    """Runs ``target(i, results)`` in PUBLISHERS forked processes, like a web server's worker processes, and
    returns what each put in ``results``."""
    connections.close_all()  # each forked process opens its own connection
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    processes = [fork.Process(target=target, args=(i, results)) for i in range(PUBLISHERS)]
    for process in processes:
        process.start()
    gathered = [results.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join(30)
    return gathered


def bench_writers(keys: int, ordered: bool, seconds: float) -> float:
    """Commits/s of PUBLISHERS processes each committing one event per transaction, on ``keys`` keys, for
    ``seconds``."""
    from django.test.utils import override_settings

    prefix = f"bench-{RUN}-writers."
    deadline_at = time.time() + 1.0 + seconds  # after every process has connected

    def writer(first: int, results: Any) -> None:
        done, n = 0, first
        while time.time() < deadline_at - seconds:
            time.sleep(0.001)
        while time.time() < deadline_at:
            with transaction.atomic():
                item = f"writer-{n % keys}"
                django_events.publish(BenchUpserted(id=item, n=n, label="writer"), key=item)
            done, n = done + 1, n + PUBLISHERS
        results.put(done)

    with override_settings(DJANGO_EVENTS=ordering_settings(prefix, ordered)):
        committed = sum(in_publisher_processes(writer, timeout=seconds + 60))
    OutboxEvent.objects.filter(topic__startswith=prefix).delete()
    return committed / seconds


def bench_ordering(args: argparse.Namespace) -> dict[str, Any]:
    ordering: dict[str, Any] = {"events": args.ordering_events}
    for ordered in (True, False):
        print(f"ordering {'on' if ordered else 'off'}: publish, relay, projection ...", flush=True)
        ordering["on" if ordered else "off"] = bench_ordered(args.ordering_events, ordered)
    for keys in (100, 1):
        for ordered in (True, False):
            print(f"writers on {keys} key(s), ordering {'on' if ordered else 'off'} ...", flush=True)
            ordering["on" if ordered else "off"][f"writers_{keys}_keys_eps"] = bench_writers(keys, ordered, args.writer_seconds)
    return ordering


def print_ordering(ordering: dict[str, Any]) -> None:
    print(f"\n{'KEY_COMMIT_ORDER (kafka, ' + format(ordering['events'], ',') + ' events)':<40}"
          f"{'on':>10}{'off':>10}{'on/off':>8}")
    for label, key in [
        ("publish events/s (5,000 a transaction)", "publish_eps"),
        ("relay events/s", "relay_eps"),
        ("projection events/s", "projection_eps"),
        (f"{PUBLISHERS} writers, 1 event a commit, 100 keys", "writers_100_keys_eps"),
        (f"{PUBLISHERS} writers, 1 event a commit, 1 key", "writers_1_keys_eps"),
    ]:
        on, off = ordering["on"][key], ordering["off"][key]
        print(f"{label:<40}{on:>10,.0f}{off:>10,.0f}{on / off:>8.2f}")


def print_table(results: dict[str, Any]) -> None:
    rabbitmq = results.get("rabbitmq", {})

    def on_rabbitmq(key: str, spec: str) -> str:
        return format(rabbitmq[key], spec) if key in rabbitmq else "-"

    rows = [
        ("relay events/s", "relay_eps", "bare_produce_eps", "relay_vs_bare"),
        ("projection events/s", "projection_eps", "bare_consume_eps", "projection_vs_bare"),
    ]
    print(f"\n{'figure':<24}{'kafka':>12}{'bare kafka':>13}{'ratio':>8}{'rabbitmq':>12}   target")
    for label, ours, bare, ratio in rows:
        op, target = TARGETS[ours]
        print(f"{label:<24}{results[ours]:>12,.0f}{results[bare]:>13,.0f}{results[ratio]:>8.2f}"
              f"{on_rabbitmq(ours, ',.0f'):>12}   {op} {target:,}")
    print(f"{'rebuild events/s':<24}{results['rebuild_eps']:>12,.0f}{'':>21}{on_rabbitmq('rebuild_eps', ',.0f'):>12}")
    for label, key in [
        ("lag idle p50 ms", "lag_idle_p50_ms"),
        ("lag idle p99 ms", "lag_idle_p99_ms"),
        ("lag 500/s p50 ms", "lag_500eps_p50_ms"),
        ("lag 500/s p99 ms", "lag_500eps_p99_ms"),
    ]:
        op, target = TARGETS.get(key, ("", ""))
        print(f"{label:<24}{results[key]:>12.1f}{'':>21}{on_rabbitmq(key, '.1f'):>12}   {op} {target}")
    print(f"(publish: {results['publish_eps']:,.0f} events/s in transactions of 5,000; "
          f"500/s phase achieved {results['lag_500eps_achieved_rate']:.0f}/s on kafka, "
          f"{on_rabbitmq('lag_500eps_achieved_rate', '.0f')}/s on rabbitmq)")


def bench_rabbitmq(args: argparse.Namespace, built: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The relay, projection, lag and rebuild phases again on RabbitMQ, over the same outbox rows."""
    from django.test.utils import override_settings

    OutboxEvent.objects.exclude(topic=django_events.topic_for(EVENT_TYPE)).delete()  # the lag phase's events
    OutboxEvent.objects.update(sent_at=None)
    InboxEvent.objects.all().delete()
    ItemView.objects.all().delete()
    results: dict[str, Any] = {}
    with override_settings(DJANGO_EVENTS={**events_settings.user_settings, "TRANSPORT": "rabbitmq"}):
        print("rabbitmq: relay ...", flush=True)
        results["relay_eps"] = time_relay(args.events, f"{PREFIX}warm-up")
        print("rabbitmq: projection ...", flush=True)
        results["projection_eps"] = time_projection(args.events)
        assert read_model() == built, "the read model built over RabbitMQ differs from the one built over Kafka"
        if not args.skip_lag:
            print("rabbitmq: lag (relay and consumer processes) ...", flush=True)
            results.update(bench_lag(args.idle_events, 0.02, args.rate, args.seconds, transport="rabbitmq"))
        print("rabbitmq: rebuild ...", flush=True)
        ItemView.objects.filter(id__startswith="lag-").delete()
        results["rebuild_eps"] = bench_rebuild(args.events, built)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--idle-events", type=int, default=200)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--skip-rabbitmq", action="store_true", help="Kafka only")
    parser.add_argument("--skip-ordering", action="store_true", help="without the KEY_COMMIT_ORDER off comparison")
    parser.add_argument("--ordering-events", type=int, default=20_000)
    parser.add_argument("--writer-seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "events.json")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    results: dict[str, Any] = {"events": args.events, "machine": f"{os.cpu_count()} cores, {platform.platform()}"}
    print(f"publishing {args.events:,} events ...", flush=True)
    results["publish_eps"] = publish_events(args.events)
    print("relay vs bare produce ...", flush=True)
    results["relay_eps"], results["bare_produce_eps"] = bench_relay(args.events)
    results["relay_vs_bare"] = results["relay_eps"] / results["bare_produce_eps"]
    print("projection vs bare consume ...", flush=True)
    results["projection_eps"], results["bare_consume_eps"] = bench_projection(args.events)
    results["projection_vs_bare"] = results["projection_eps"] / results["bare_consume_eps"]
    built = read_model()
    if not args.skip_lag:
        print("lag (relay and consumer processes) ...", flush=True)
        results.update(bench_lag(args.idle_events, 0.02, args.rate, args.seconds))
    else:
        lags = ("lag_idle_p50_ms", "lag_idle_p99_ms", "lag_500eps_p50_ms", "lag_500eps_p99_ms", "lag_500eps_achieved_rate")
        results.update({k: float("nan") for k in lags})
    # Last: its table swap and the inbox rows it moves leave autovacuum work that would weigh on the lag phase.
    print("rebuild ...", flush=True)
    ItemView.objects.filter(id__startswith="lag-").delete()  # the lag phase's rows come from other topics
    results["rebuild_eps"] = bench_rebuild(args.events, built)
    if not args.skip_rabbitmq:
        results["rabbitmq"] = bench_rabbitmq(args, built)
    if not args.skip_ordering:
        results["ordering"] = bench_ordering(args)
    results["targets_met"] = {
        key: (results[key] >= target if op == ">=" else results[key] < target) for key, (op, target) in TARGETS.items()
    }
    print_table(results)
    if "ordering" in results:
        print_ordering(results["ordering"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    connection.close()


if __name__ == "__main__":
    main()
