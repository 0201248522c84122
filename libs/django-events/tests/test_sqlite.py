"""One relay on SQLite: no advisory locks and no LISTEN/NOTIFY, it polls; what it sends is what was committed."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

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
        "DJANGO_EVENTS_OVERRIDES": json.dumps({k: settings.DJANGO_EVENTS[k] for k in ("BOOTSTRAP_SERVERS", "TOPIC_PREFIX", "GROUP_ID")}),
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
        assert relay.wait(30) == 0, relay.stderr.read().decode()[-2000:]

    by_key: dict[bytes, list[int]] = {}
    for message in read_topic(django_events.topic_for("tick.happened"), 30):
        by_key.setdefault(message.key(), []).append(django_events.Event.from_json(message.value()).data["seq"])
    assert by_key == {f"key-{k}".encode(): list(range(10)) for k in range(3)}


def unsent(database) -> int:  # type: ignore[no-untyped-def]
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM django_events_outbox WHERE sent_at IS NULL").fetchone()[0]
