"""The issue's bar: a Django project that installs only django-events[rabbitmq,postgres] and sets TRANSPORT = "rabbitmq"
publishes, relays and projects events exactly once through a consumer SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

LIBRARY = Path(__file__).resolve().parent.parent
EVENTS = 400

SETTINGS = """
import os
from urllib.parse import urlparse

_url = urlparse(os.environ["DATABASE_URL"])
SECRET_KEY = "scratch"
USE_TZ = True
INSTALLED_APPS = ["django_events", "shop"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["SCRATCH_DATABASE"], "USER": _url.username,
    "PASSWORD": _url.password, "HOST": _url.hostname, "PORT": _url.port or 5432,
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DJANGO_EVENTS = {"SERVICE": "shop", "TRANSPORT": "rabbitmq", "TOPIC_PREFIX": os.environ["SCRATCH_PREFIX"]}
"""

MODELS = """
from django.db import models


class Order(models.Model):
    total = models.IntegerField()


class OrderView(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    total = models.IntegerField()
    updates = models.IntegerField(default=0)

    class Meta:
        managed = False
        db_table = "shop_order_view"


class Application(models.Model):
    event_id = models.UUIDField()
"""

PROJECTIONS = """
from django.db.models import F

import django_events

from .models import Application, OrderView


class OrderProjection(django_events.Projection):
    model = OrderView

    def on_order_placed(self, event):
        self.upsert(event.data["order_id"], total=event.data["total"])

    def on_order_changed(self, event):
        self.update(event.data["order_id"], total=event.data["total"], updates=F("updates") + 1)


@django_events.handler("order.placed", "order.changed")
def count(event):
    Application.objects.create(event_id=event.id)
"""

PUBLISH = """
import os
import django
django.setup()
from django.db import transaction
import django_events
from shop.models import Order

import pathlib
import time

for n in range(int(os.environ["COUNT"]) // 2):
    if n == int(os.environ["COUNT"]) // 4:  # half published: the rest once the test has killed the consumer
        deadline = time.monotonic() + 300
        while not pathlib.Path(os.environ["KILLED"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    with transaction.atomic():
        order = Order.objects.create(total=n)
        django_events.publish("order.placed", key=str(order.id), data={"order_id": str(order.id), "total": n})
    with transaction.atomic():
        django_events.publish("order.changed", key=str(order.id), data={"order_id": str(order.id), "total": n + 1})
"""


@pytest.fixture
def scratch_project(tmp_path: Path, rabbitmq_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        pytest.skip("DATABASE_URL is not set (make infra-up)")
    if not shutil.which("uv"):
        pytest.skip("uv is not installed")
    project = tmp_path / "scratch"
    (project / "shop").mkdir(parents=True)
    (project / "settings.py").write_text(SETTINGS)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "models.py").write_text(MODELS)
    (project / "shop" / "projections.py").write_text(PROJECTIONS)
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    subprocess.run(["uv", "pip", "install", "-q", "--python", python, f"{LIBRARY}[rabbitmq,postgres]"], check=True,
                   timeout=600)
    database = f"scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON", "VIRTUAL_ENV"))},
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(project),
        "SCRATCH_DATABASE": database,
        "SCRATCH_PREFIX": f"scratch-{uuid.uuid4().hex[:8]}.",
        "RABBITMQ_URL": rabbitmq_url,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "COUNT": str(EVENTS),
        "KILLED": str(tmp_path / "consumer-killed"),
    }
    subprocess.run([python, "-m", "django", "makemigrations", "shop", "-v", "0"], cwd=project, env=env, check=True, timeout=120)
    subprocess.run([python, "-m", "django", "migrate", "-v", "0"], cwd=project, env=env, check=True, timeout=120)
    yield project, env
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def query(env: dict[str, str], sql: str) -> tuple[int, ...]:
    with psycopg.connect(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + env["SCRATCH_DATABASE"]) as connection:
        row = connection.execute(sql).fetchone()
        assert row is not None
        return tuple(row)


def test_a_project_with_only_django_events_on_rabbitmq_projects_exactly_once_through_a_consumer_sigkill(scratch_project):
    project, env = scratch_project

    def worker(command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(Path(env["PATH"].split(":")[0]) / "python"), "-m", "django", command],
                                cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_for_applications(at_least: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while query(env, "SELECT count(*) FROM shop_application")[0] < at_least:
            assert time.monotonic() < deadline, f"fewer than {at_least} applications in time"
            time.sleep(0.2)

    relay, consumer = worker("events_relay"), worker("events_consume")
    survivor = None
    try:
        python = Path(env["PATH"].split(":")[0]) / "python"
        publisher = subprocess.Popen([str(python), "-c", textwrap.dedent(PUBLISH)], cwd=project, env=env)
        wait_for_applications(EVENTS // 4, 120)
        consumer.send_signal(signal.SIGKILL)  # mid-stream: the publisher is still committing events
        assert consumer.wait(30) == -signal.SIGKILL
        assert publisher.poll() is None, "the publisher holds half the events until the kill"
        Path(env["KILLED"]).touch()
        survivor = worker("events_consume")
        assert publisher.wait(300) == 0
        wait_for_applications(EVENTS, 120)
        time.sleep(1)  # room for a wrongful second application to show
    finally:
        for process in (relay, survivor):
            if process is not None:
                process.terminate()
                assert process.wait(30) == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""

    assert query(env, "SELECT count(*), count(DISTINCT event_id) FROM shop_application") == (EVENTS, EVENTS)
    assert query(env, "SELECT count(*) FROM django_events_outbox WHERE sent_at IS NULL") == (0,)
    # Each order placed then changed, in key order: total n + 1 after exactly one update.
    assert query(env, "SELECT count(*), sum(updates), sum(total) FROM shop_order_view") == (
        EVENTS // 2, EVENTS // 2, sum(n + 1 for n in range(EVENTS // 2))
    )
