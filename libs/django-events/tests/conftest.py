"""Fixtures for tests against the real PostgreSQL, Kafka and RabbitMQ that DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS
and RABBITMQ_URL name (a test needing a broker that none names is skipped, saying which variable is missing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Set
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from pytest_django import Settings

import django_events
from django_events.consumer import Consumer
from django_events.relay import Relay
from django_events.transport import Message, get_transport

LIBRARY = Path(__file__).resolve().parent.parent
# The smoke subset (-m smoke), for the supported pairs that CI does not test in full: publishing, the relay on both
# brokers, projections, freshness, the operations and checks, the extras: what leans on Django's ORM, transactions,
# migrations and checks. The consumer's and the fault tests exercise the brokers' clients, which Django's version
# does not touch, and take minutes.
SMOKE = {"test_publish", "test_relay", "test_projection", "test_freshness", "test_operations", "test_checks",
         "test_rows", "test_extras"}
# What a worker subprocess needs of the test's DJANGO_EVENTS to reach the same broker, topics and group.
WORKER_SETTINGS = ("TRANSPORT", "BOOTSTRAP_SERVERS", "RABBITMQ_URL", "TOPIC_PREFIX", "GROUP_ID")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in SMOKE:
            item.add_marker(pytest.mark.smoke)


@pytest.fixture(params=["kafka", "rabbitmq", "memory"])
def transport(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Runs a test on each broker, and on the in-memory one (where a test starts no worker process: a process of
    its own does not share the test's memory)."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "TRANSPORT": request.param}
    return str(request.param)


@pytest.fixture
def live(transport: str, isolated_topics: str, transactional_db: None, settings: Settings) -> Iterator[dict[str, str]]:
    """Committed data, unique topics and the environment a worker subprocess needs to see both."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM testapp_note_view")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DJANGO_EVENTS_TEST_DATABASE": connection.settings_dict["NAME"],
        "DJANGO_EVENTS_OVERRIDES": json.dumps({k: v for k, v in settings.DJANGO_EVENTS.items() if k in WORKER_SETTINGS}),
        "PYTHONPATH": str(LIBRARY),
    }
    yield env


def with_overrides(env: dict[str, str], **overrides: object) -> dict[str, str]:
    """The worker environment ``env`` with more DJANGO_EVENTS settings."""
    return {**env, "DJANGO_EVENTS_OVERRIDES": json.dumps({**json.loads(env["DJANGO_EVENTS_OVERRIDES"]), **overrides})}


class Worker(subprocess.Popen[bytes]):
    """A ``python -m django <command>`` subprocess of the library's test project, logging to a file: a pipe nobody
    reads fills up and blocks the worker in the middle of logging (a broker outage makes clients log a lot), and it
    would neither work on nor stop."""

    def __init__(self, command: str, env: dict[str, str], *args: str, failpoints: str = "") -> None:
        if json.loads(env.get("DJANGO_EVENTS_OVERRIDES", "{}")).get("TRANSPORT") == "memory":
            pytest.skip("the in-memory broker is not shared with a worker process")
        self.log_file = tempfile.TemporaryFile()
        if "--ready-file" not in args:
            args = ("--ready-file", str(Path(tempfile.mkdtemp()) / "ready"), *args)
        self.ready_file = Path(args[args.index("--ready-file") + 1])
        super().__init__(
            [sys.executable, "-m", "django", command, *args],
            cwd=LIBRARY,
            env={**env, "DJANGO_EVENTS_FAILPOINTS": failpoints},
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Blocks until the worker says it is ready (a relay: its first round went through), so a test starts
        every worker before it publishes."""
        wait_until(self.ready_file.exists, "the worker ready", timeout)

    def log(self) -> bytes:
        """All the worker logged so far."""
        self.log_file.seek(0)
        return self.log_file.read()


@contextmanager
def database_outage() -> Iterator[None]:
    """The test database refuses every connection and those open are cut, as when its server fails over."""
    database = connection.settings_dict
    connection.close()
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], password=database["PASSWORD"],
        dbname="postgres", autocommit=True,
    ) as admin:
        admin.execute(f'ALTER DATABASE "{database["NAME"]}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database["NAME"]])
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{database["NAME"]}" ALLOW_CONNECTIONS true')


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f}s"
        time.sleep(0.2)


def publish_ticks(keys: int, per_key: int, *, start: int = 0, poison: Set[int] = frozenset()) -> list[django_events.Event]:
    """Publishes tick.happened events round-robin over keys, each key's `seq` counting up."""
    events = []
    with transaction.atomic():
        for seq in range(start, start + per_key):
            for k in range(keys):
                data = {"seq": seq, **({"poison": True} if seq in poison else {})}
                events.append(django_events.publish("tick.happened", key=f"key-{k}", data=data))
    return events


def relay_until_empty(timeout: float = 30.0) -> int:
    relay = Relay()
    sent, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = relay.send_batch()
        sent += batch
        if batch == 0:
            return sent
    raise AssertionError("relay did not drain the outbox")


def consume_until(done: Callable[[], bool], timeout: float = 60.0) -> Consumer:
    consumer = Consumer()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "consumer did not get there in time"
            consumer.poll_once(0.2)
    finally:
        consumer.close()
    return consumer


def read_topic(topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    """Every message of ``topic`` from the beginning, until ``count`` were read (then briefly more)."""
    reader = get_transport().replay([topic], group=f"reader-{uuid.uuid4()}")
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            messages.extend(reader.poll(1000, 0.5))
            if len(messages) >= count:
                quiet_until = quiet_until or time.monotonic() + 1.0
                if time.monotonic() > quiet_until:
                    break
    finally:
        reader.close()
    return messages


def publish_raw(topic: str, key: bytes, value: bytes) -> None:
    """A message that did not come from an outbox (a poison message)."""
    publisher = get_transport().publisher()
    try:
        assert publisher.send([Message(topic, key=key, value=value)], 10) == [None]
    finally:
        publisher.close(10)
