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
        by_key.setdefault(message.key, []).append(django_events.Event.from_json(message.value).data["seq"])
    assert by_key == {f"key-{k}".encode(): list(range(10)) for k in range(3)}


def unsent(database) -> int:  # type: ignore[no-untyped-def]
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
