"""Fixtures for tests against the real PostgreSQL, Kafka and RabbitMQ started by `make infra-up`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

import django_events
from django_events.consumer import Consumer
from django_events.relay import Relay
from django_events.transport import Message, get_transport

LIBRARY = Path(__file__).resolve().parent.parent
# What a worker subprocess needs of the test's DJANGO_EVENTS to reach the same broker, topics and group.
WORKER_SETTINGS = ("TRANSPORT", "BOOTSTRAP_SERVERS", "RABBITMQ_URL", "TOPIC_PREFIX", "GROUP_ID")


@pytest.fixture(params=["kafka", "rabbitmq"])
def transport(request, settings) -> str:  # type: ignore[no-untyped-def]
    """Runs a test on each broker."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "TRANSPORT": request.param}
    return str(request.param)


@pytest.fixture
def live(transport: str, isolated_topics: str, transactional_db, settings) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
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


class WorkerLog:
    """A worker's stderr in a file: a pipe nobody reads fills up and blocks the worker in the middle of logging
    (a broker outage makes clients log a lot), and it would neither work on nor stop."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


def start_worker(command: str, env: dict[str, str], *args: str, failpoints: str = "") -> subprocess.Popen[bytes]:
    """``.stderr.read()`` of the process returned is all it logged so far."""
    log = WorkerLog()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", command, *args],
        cwd=LIBRARY,
        env={**env, "DJANGO_EVENTS_FAILPOINTS": failpoints},
        stdout=subprocess.DEVNULL,
        stderr=log.file,
    )
    process.stderr = log  # type: ignore[assignment]
    return process


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


def wait_until_relays_listen(count: int, timeout: float = 60.0) -> None:
    """Blocks until ``count`` relays wait on the outbox's NOTIFY channel, so a test starts them all before it publishes."""
    from django_events.relay import NOTIFY_CHANNEL

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
                [f"LISTEN {NOTIFY_CHANNEL}"],
            )
            if cursor.fetchone()[0] >= count:
                return
        assert time.monotonic() < deadline, f"{count} relays did not start listening in time"
        time.sleep(0.1)


def publish_ticks(keys: int, per_key: int, *, start: int = 0, poison: set[int] = frozenset()) -> list[django_events.Event]:  # type: ignore[assignment]
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
