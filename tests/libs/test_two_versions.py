"""Two versions of django-events side by side on one Apache Kafka: a released one, rebuilt from this repository's
history (0.2.0, the one before the tree's, which a service that has not opted into the tree's version runs; and
0.1.0, the first), and the one in the tree (the development virtualenv's), each in a Django project of its own
with its own PostgreSQL database. The broker is a plaintext one of the test's own (SECOND_KAFKA_PORT): 0.1 has no
setting for credentials of its admin client, which creates topics, so it never ran on an authenticating broker.
Each publishes events the other consumes: every event arrives, none is applied twice (not even when both consumers
read their topics again from the start under a new group), and each reads the other's envelope: the 0.1 JSON
envelope, and the CloudEvents one with 0.1's field names alongside (`LEGACY_ENVELOPE`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.libs.test_quickstart import run

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Release:
    version: str
    commit: str  # the last commit of libs/django-events that was this version
    extras: str  # the brokers' clients are extras since 0.2 (0.1 installs them anyway and ignores the names)


RELEASES = [
    Release("0.1.0", "d749667", "postgres"),  # its CHANGELOG's date, 2026-11-24: the last commit of that day
    Release("0.2.0", "e2d8440", "kafka,postgres"),  # main before per-key commit order (0.3.0)
]
WHEELS = ROOT / ".cache" / "released-wheels"
EVENTS = 30
KEY = "two-versions"  # one key, one partition: an event read after another was sent after it

SETTINGS = """
import os
from urllib.parse import urlparse

_url = urlparse(os.environ["DATABASE_URL"])
SECRET_KEY = "two-versions"
USE_TZ = True
INSTALLED_APPS = ["django_events", "side"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["SIDE_DATABASE"], "USER": _url.username,
    "PASSWORD": _url.password, "HOST": _url.hostname, "PORT": _url.port or 5432,
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DJANGO_EVENTS = {"SERVICE": os.environ["SIDE"], "TOPIC_PREFIX": os.environ["SIDE_PREFIX"],
                 "GROUP_ID": os.environ["SIDE_GROUP"]}
"""

MODELS = """
from django.db import models


class Received(models.Model):
    event_id = models.UUIDField()
    type = models.CharField(max_length=64)
    version = models.IntegerField()
    source = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    number = models.IntegerField()
"""

# Deprecated in 0.2 (it warns) but the one way 0.1 has: a handler in an installed app's projections.py.
HANDLERS = """
import django_events

from .models import Received


@django_events.handler("{consumes}")
def received(event):
    Received.objects.create(event_id=event.id, type=event.type, version=event.version, source=event.source,
                            key=event.key, number=event.data["number"])
"""

PUBLISH = """
import sys
import django
django.setup()
from django.db import transaction
import django_events
for number in range(int(sys.argv[1]), int(sys.argv[2])):
    with transaction.atomic():
        django_events.publish("{publishes}", key="{key}", data={{"number": number}})
"""


@dataclass
class Side:
    name: str
    python: str
    project: Path
    env: dict[str, str]
    publishes: str
    workers: tuple[subprocess.Popen[bytes], ...] = ()

    def django(self, *arguments: str) -> str:
        return run([self.python, "-m", "django", *arguments], cwd=self.project, env=self.env)

    def publish(self, first: int, last: int) -> None:
        run([self.python, "-c", PUBLISH.format(publishes=self.publishes, key=KEY), str(first), str(last)],
            cwd=self.project, env=self.env)

    def start(self) -> None:
        self.workers = tuple(
            subprocess.Popen([self.python, "-m", "django", command], cwd=self.project, env=self.env,
                             stdout=subprocess.DEVNULL, stderr=open(self.project / f"{command}.log", "ab"))
            for command in ("events_relay", "events_consume"))

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait(60)
        self.workers = ()

    def received(self) -> list[tuple[str, str, int, str, str, int]]:
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + self.env["SIDE_DATABASE"]
        with psycopg.connect(url, autocommit=True) as connection:
            rows = connection.execute("SELECT event_id::text, type, version, source, key, number FROM side_received")
            return list(rows.fetchall())

    def logs(self) -> str:
        return "\n".join(f"{log.name}:\n{log.read_text()[-2000:]}" for log in self.project.glob("*.log"))


def released_wheel(release: Release, scratch: Path) -> Path:
    """The released version's wheel (its distribution was named django-events until 0.2), built once from the
    repository's history into an ignored cache."""
    built = sorted(WHEELS.glob(f"django_*events-{release.version}-*.whl"))
    if built:
        return built[0]
    archive = scratch / "released.tar"
    run(["git", "archive", "-o", str(archive), release.commit, "libs/django-events"], cwd=ROOT)
    with tarfile.open(archive) as tar:
        tar.extractall(scratch / "released", filter="data")
    source = scratch / "released" / "libs" / "django-events"
    out = scratch / "wheel"
    run(["uv", "build", "-q", "--wheel", "--out-dir", str(out), str(source)])
    [wheel] = out.glob(f"django_*events-{release.version}-*.whl")
    WHEELS.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(wheel, WHEELS / wheel.name))


@pytest.fixture(scope="module")
def plaintext_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Apache Kafka of the test's own, plaintext (infra.sh, KAFKA_SASL=off), its jars those of `make infra-up`."""
    home = tmp_path_factory.mktemp("kafka")
    port = int(os.environ.get("SECOND_KAFKA_PORT", 19292))
    jars = Path(os.environ.get("KAFKA_LIBS", ROOT / ".cache" / "kafka" / "libs"))
    if jars.is_dir():  # else infra.sh fetches them
        (home / "libs").symlink_to(jars)
    # A JVM starting on a loaded machine can take minutes to open its port.
    env = {**os.environ, "KAFKA_SASL": "off", "KAFKA_PORT": str(port), "KAFKA_HOME": str(home),
           "INFRA_WAIT_SECONDS": "240"}
    run(["bash", str(ROOT / "infra" / "infra.sh"), "kafka-up"], env=env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        run(["bash", str(ROOT / "infra" / "infra.sh"), "kafka-down"], env=env)
        shutil.rmtree(home, ignore_errors=True)


def make_side(name: str, python: str, tmp_path: Path, prefix: str, publishes: str, consumes: str,
              bootstrap: str) -> Side:
    project = tmp_path / name
    (project / "side").mkdir(parents=True)
    (project / "settings.py").write_text(SETTINGS)
    (project / "side" / "__init__.py").write_text("")
    (project / "side" / "models.py").write_text(MODELS)
    (project / "side" / "projections.py").write_text(HANDLERS.format(consumes=consumes))
    database = f"two_versions_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    side_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON", "VIRTUAL_ENV", "KAFKA_"))},
        "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(project), "SIDE": name, "SIDE_DATABASE": database,
        "SIDE_PREFIX": prefix, "SIDE_GROUP": f"{prefix}{name}", "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    return Side(name, python, project, side_env, publishes)


@pytest.fixture(params=RELEASES, ids=lambda release: release.version)
def released(request: pytest.FixtureRequest) -> Release:
    release: Release = request.param
    return release


@pytest.fixture
def sides(tmp_path: Path, plaintext_kafka: str, released: Release) -> Iterator[tuple[Side, Side]]:
    if not os.environ.get("DATABASE_URL"):
        pytest.fail("DATABASE_URL names the PostgreSQL server (make infra-up)")
    wheel = released_wheel(released, tmp_path)
    venv = tmp_path / "released-venv"
    run(["uv", "venv", "-q", "-p", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    run(["uv", "pip", "install", "-q", "--python", python, f"{wheel}[{released.extras}]", "django~=5.2.0"])
    prefix = f"two-versions-{uuid.uuid4().hex[:8]}."
    old = make_side("old", python, tmp_path, prefix, "ping.sent", "pong.sent", plaintext_kafka)
    new = make_side("new", sys.executable, tmp_path, prefix, "pong.sent", "ping.sent", plaintext_kafka)
    try:
        yield old, new
    finally:
        for side in (old, new):
            side.stop()
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
            for side in (old, new):
                connection.execute(f'DROP DATABASE IF EXISTS "{side.env["SIDE_DATABASE"]}" WITH (FORCE)')


def wait_for(sides: tuple[Side, ...], count: int) -> None:
    deadline = time.monotonic() + 180
    while True:
        held = {side.name: len(side.received()) for side in sides}
        if all(n >= count for n in held.values()):
            return
        assert all(worker.poll() is None for side in sides for worker in side.workers), \
            "\n".join(side.logs() for side in sides)
        assert time.monotonic() < deadline, f"{held} of {count} events each:\n" + "\n".join(s.logs() for s in sides)
        time.sleep(0.5)


def test_the_released_and_the_tree_version_exchange_events_on_kafka(sides: tuple[Side, Side],
                                                                     released: Release) -> None:
    old, new = sides
    versions = {side.name: run([side.python, "-c", "import django_events; print(django_events.__version__)"],
                               env=side.env).strip() for side in sides}
    tree = run([sys.executable, "-c", "import django_events; print(django_events.__version__)"]).strip()
    assert versions == {"old": released.version, "new": tree} and tree != released.version, versions
    for side in sides:
        side.django("makemigrations", "side", "-v", "0")
        side.django("migrate", "-v", "0")
        side.start()
    old.publish(0, EVENTS)
    new.publish(0, EVENTS)
    wait_for(sides, EVENTS)

    # Both consumers read their topics again from the start, under a new group: each inbox drops what its side
    # already applied. One event more from each side, on the same partition, arrives after all of those.
    for side in sides:
        side.stop()
        side.env["SIDE_GROUP"] += "-again"
        side.start()
    old.publish(EVENTS, EVENTS + 1)
    new.publish(EVENTS, EVENTS + 1)
    wait_for(sides, EVENTS + 1)
    time.sleep(2)  # anything applied twice would have been by now

    for side, sender, event_type in ((old, new, "pong.sent"), (new, old, "ping.sent")):
        received = side.received()
        assert len(received) == EVENTS + 1, f"{side.name} applied {len(received)} for {EVENTS + 1} events"
        assert len({row[0] for row in received}) == EVENTS + 1, "an event applied twice"
        assert sorted(row[5] for row in received) == list(range(EVENTS + 1))
        # The other version's envelope, read whole: type, version, source and key as its sender wrote them.
        assert {row[1:5] for row in received} == {(event_type, 1, sender.name, KEY)}
