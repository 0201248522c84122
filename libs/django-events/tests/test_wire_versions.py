"""Two versions of the library on one broker, as during a rolling upgrade: django-events 0.1 (its envelope on the
wire) and this tree (CloudEvents). A 0.1 consumer reads what this relay sends, and this consumer reads what a 0.1
relay sent, on Kafka and on RabbitMQ, each side a Django project with the library installed alone in a
virtualenv of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import psycopg
import pytest
from pytest_django import Settings

from django_events.testing import unique_topic_prefix

LIBRARY = Path(__file__).resolve().parent.parent
REPOSITORY = LIBRARY.parent.parent
# The last commit whose django-events (0.1) put its own envelope on the wire.
PREVIOUS = "49ac1363cad6e204b8a0ded1307e83aa9fd7f70c"

SETTINGS = """
import json
import os
from urllib.parse import urlparse

_url = urlparse(os.environ["DATABASE_URL"])
SECRET_KEY = "wire"
USE_TZ = True
INSTALLED_APPS = ["django_events", "shop"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["WIRE_DATABASE"], "USER": _url.username,
    "PASSWORD": _url.password, "HOST": _url.hostname, "PORT": _url.port or 5432,
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DJANGO_EVENTS = {"SERVICE": os.environ["WIRE_SERVICE"], **json.loads(os.environ["WIRE_EVENTS"])}
"""

MODELS = """
from django.db import models


class Received(models.Model):
    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=100)
    key = models.CharField(max_length=100)
    source = models.CharField(max_length=100)
    correlation_id = models.CharField(max_length=100, null=True)
    total = models.IntegerField()
"""

HANDLERS = """
import django_events

from .models import Received


@django_events.handler("order.placed")
def received(event):
    Received.objects.create(event_id=event.id, type=event.type, key=event.key, source=event.source,
                            correlation_id=event.correlation_id, total=event.data["total"])
"""

PUBLISH = """
import sys
import django
django.setup()
from django.db import transaction
import django_events

with django_events.correlation(sys.argv[2]), transaction.atomic():
    django_events.publish("order.placed", key=sys.argv[1], data={"total": int(sys.argv[1])})
"""


def _virtualenv(python: Path, source: Path) -> None:
    subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(python.parent.parent)], check=True, timeout=300)
    # Both brokers' clients: extras since 0.2 (0.1 installs them anyway and ignores the names).
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), f"{source}[kafka,rabbitmq,postgres]"],
                   check=True, timeout=600)


@pytest.fixture(scope="module")
def pythons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A virtualenv holding the library of ``PREVIOUS`` and one holding this tree's."""
    if not shutil.which("uv"):
        pytest.skip("uv is not installed")
    if subprocess.run(["git", "-C", str(REPOSITORY), "cat-file", "-e", PREVIOUS], capture_output=True).returncode:
        pytest.skip(f"commit {PREVIOUS} is not in this clone's history")
    base = tmp_path_factory.mktemp("wire-versions")
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", PREVIOUS, "libs/django-events"],
                             check=True, capture_output=True, timeout=120).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(base / "previous", filter="data")
    found = {"0.1": base / "venv-0.1" / "bin" / "python", "new": base / "venv-new" / "bin" / "python"}
    _virtualenv(found["0.1"], base / "previous" / "libs" / "django-events")
    _virtualenv(found["new"], LIBRARY)
    return found


class Side:
    """One service's project and database, run by either version's interpreter."""

    def __init__(self, project: Path, database: str, service: str, events: dict[str, object]) -> None:
        self.project, self.database = project, database
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON", "VIRTUAL_ENV"))},
            "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPATH": str(project),
            "WIRE_DATABASE": database,
            "WIRE_SERVICE": service,
            "WIRE_EVENTS": json.dumps(events),
        }

    def run(self, python: Path, *args: str) -> None:
        subprocess.run([str(python), *args], cwd=self.project, env=self.env, check=True, timeout=120)

    def start(self, python: Path, command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(python), "-m", "django", command], cwd=self.project, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def query(self, sql: str) -> list[tuple[object, ...]]:
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + self.database
        with psycopg.connect(url) as connection:
            return list(connection.execute(sql).fetchall())

    def until(self, sql: str, expected: object, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (found := self.query(sql)) != expected:
            assert time.monotonic() < deadline, f"{sql}: {found}, not {expected}"
            time.sleep(0.2)


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    assert worker.wait(30) == 0, worker.stderr.read().decode()[-3000:] if worker.stderr else ""


@pytest.fixture
def sides(tmp_path: Path, settings: Settings, transport: str, pythons: dict[str, Path]) -> Iterator[dict[str, Side]]:
    """The shop (producer) and two consumers of its events, billing and audit, each on a database of its own."""
    if transport == "memory":
        pytest.skip("the versions run in processes of their own, which do not share the in-memory broker")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        pytest.skip("DATABASE_URL is not set (make infra-up)")
    broker = ({"RABBITMQ_URL": settings.DJANGO_EVENTS.get("RABBITMQ_URL") or os.environ.get("RABBITMQ_URL")}
              if transport == "rabbitmq" else
              {"BOOTSTRAP_SERVERS": settings.DJANGO_EVENTS.get("BOOTSTRAP_SERVERS") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")})
    if not next(iter(broker.values())):
        pytest.skip(f"no {transport} broker configured (make infra-up)")
    # The test settings' client options (credentials, TLS) reach the projects too.
    events = {"TRANSPORT": transport, "TOPIC_PREFIX": unique_topic_prefix(), "RELAY_POLL_INTERVAL": 0.05, **broker,
              **{k: v for k, v in settings.DJANGO_EVENTS.items() if k == "CLIENT"}}
    project = tmp_path / "project"
    (project / "shop" / "migrations").mkdir(parents=True)
    (project / "settings.py").write_text(SETTINGS)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "migrations" / "__init__.py").write_text("")
    (project / "shop" / "models.py").write_text(MODELS)
    (project / "shop" / "handlers.py").write_text(HANDLERS)
    (project / "publish.py").write_text(PUBLISH)
    found = {name: Side(project, f"wire_{name}_{uuid.uuid4().hex[:8]}", name, events)
             for name in ("shop", "billing", "audit")}
    with psycopg.connect(database_url, autocommit=True) as admin:
        for side in found.values():
            admin.execute(f'CREATE DATABASE "{side.database}"')
    try:
        found["shop"].run(pythons["new"], "-m", "django", "makemigrations", "shop", "-v", "0")
        for side in found.values():
            side.run(pythons["new"], "-m", "django", "migrate", "-v", "0")
        yield found
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            for side in found.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{side.database}" WITH (FORCE)')


def test_each_version_reads_what_the_other_sent_on_the_wire(sides: dict[str, Side], pythons: dict[str, Path]) -> None:
    shop, billing, audit = sides["shop"], sides["billing"], sides["audit"]
    unsent = "SELECT count(*) FROM django_events_outbox WHERE sent_at IS NULL"

    # 0.1 publishes 1 and relays it, then publishes 2 and stops before relaying it: the upgrade happens here.
    shop.run(pythons["0.1"], "publish.py", "1", "c-1")
    relay = shop.start(pythons["0.1"], "events_relay")
    shop.until(unsent, [(0,)])
    stop(relay)
    shop.run(pythons["0.1"], "publish.py", "2", "c-2")
    # This version relays the 0.1 row left in the outbox, then publishes and relays 3 as a CloudEvent.
    relay = shop.start(pythons["new"], "events_relay")
    shop.run(pythons["new"], "publish.py", "3", "c-3")
    shop.until(unsent, [(0,)])
    stop(relay)
    payloads = [str(row[0]) for row in shop.query("SELECT payload FROM django_events_outbox ORDER BY seq")]
    assert ["specversion" in json.loads(p) for p in payloads] == [False, False, True]

    # A consumer of each version reads all three, with the same attributes.
    expected = [(1, "order.placed", "1", "shop", "c-1"), (2, "order.placed", "2", "shop", "c-2"),
                (3, "order.placed", "3", "shop", "c-3")]
    received = "SELECT total, type, key, source, correlation_id FROM shop_received ORDER BY total"
    for side, python in ((billing, pythons["0.1"]), (audit, pythons["new"])):
        consumer = side.start(python, "events_consume")
        try:
            side.until(received, expected)
        finally:
            stop(consumer)
        assert side.query("SELECT count(*) FROM django_events_inbox WHERE subscriber = 'django_events.dead_letter'") == [(0,)]
