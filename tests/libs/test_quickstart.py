"""django-events as a new team meets it: a scratch Django 6.1 project on Python 3.13, outside this repository,
installs django-reliable-events from the local index (`make release-libs`: dist/index/) with only the
`[kafka,postgres]` extras, and follows the documentation's quick start, its code blocks taken from the page
itself, to publish, relay and project events on the real PostgreSQL and Kafka."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "libs" / "django-events" / "docs" / "quickstart.md"
INDEX = ROOT / "dist" / "index"
ORDERS = 20

SETTINGS = """
import os
from urllib.parse import urlparse

_url = urlparse(os.environ["DATABASE_URL"])
SECRET_KEY = "quickstart"
USE_TZ = True
INSTALLED_APPS = ["django_events", "shop"]
MIDDLEWARE = ["django_events.middleware.CorrelationIdMiddleware"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["SCRATCH_DATABASE"], "USER": _url.username,
    "PASSWORD": _url.password, "HOST": _url.hostname, "PORT": _url.port or 5432,
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A broker that authenticates (make infra-up's Kafka) is reached with the credentials the environment gives.
_CLIENT = {setting: os.environ[name] for name, setting in [
    ("KAFKA_SECURITY_PROTOCOL", "security.protocol"), ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("KAFKA_SASL_USERNAME", "sasl.username"), ("KAFKA_SASL_PASSWORD", "sasl.password")] if os.environ.get(name)}
DJANGO_EVENTS = {"SERVICE": "shop", "TOPIC_PREFIX": os.environ["SCRATCH_PREFIX"], "CLIENT": _CLIENT}
"""

PLACE_ORDERS = f"""
import django
django.setup()
from shop.services import place_order
for n in range({ORDERS}):
    place_order(total=n)
"""


def python_3_13() -> str:
    """Python 3.13: on PATH (.ci/run appends uv's), else pyenv's; the first that runs (a pyenv shim on PATH fails
    when 3.13 is not pyenv's selected version)."""
    candidates = [shutil.which("python3.13"), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13.*/bin/python3.13")))]
    for found in filter(None, candidates):
        if subprocess.run([found, "-V"], capture_output=True).returncode == 0:
            return found
    pytest.fail("Python 3.13 is needed (.ci/run installs it with uv)")


def quickstart_blocks() -> dict[str, str]:
    """The page's Python code blocks whose first line names their file (``# shop/models.py``)."""
    blocks = re.findall(r"```python\n# (shop/\w+\.py)[^\n]*\n(.*?)```", QUICKSTART.read_text(), re.DOTALL)
    return dict(blocks)


def run(command: list[str], **kwargs: object) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return str(result.stdout)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url or not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.fail("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS name the servers (make infra-up)")
    wheels = sorted(INDEX.glob("django_reliable_events-*.whl"))
    assert wheels, f"no django-reliable-events in {INDEX}: make release-libs"
    version = re.search(r'^__version__ = "(.+)"$', (ROOT / "libs/django-events/src/django_events/__init__.py").read_text(),
                        re.MULTILINE)
    assert version
    venv = tmp_path / "venv"
    run(["uv", "venv", "-q", "-p", python_3_13(), str(venv)])
    python = venv / "bin" / "python"
    # Only the local index's django-reliable-events (it is on no other index); Django and the clients from PyPI.
    run(["uv", "pip", "install", "-q", "--python", str(python), "--find-links", str(INDEX),
         f"django-reliable-events[kafka,postgres]=={version.group(1)}", "django~=6.1.0"])
    project = tmp_path / "scratch"
    (project / "shop").mkdir(parents=True)
    (project / "settings.py").write_text(SETTINGS)
    (project / "shop" / "__init__.py").write_text("")
    blocks = quickstart_blocks()
    assert set(blocks) == {"shop/models.py", "shop/services.py", "shop/projections.py"}, set(blocks)
    for name, code in blocks.items():
        (project / name).write_text(code)
    database = f"quickstart_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON", "VIRTUAL_ENV"))},
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(project),
        "SCRATCH_DATABASE": database,
        "SCRATCH_PREFIX": f"quickstart-{uuid.uuid4().hex[:8]}.",
    }
    try:
        yield project, python, env
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_the_quick_start_on_django_6_1_and_python_3_13_from_the_local_index(project):
    project, python, env = project
    versions = run([str(python), "-c", "import sys, django, django_events; "
                    "print(sys.version_info[:2], django.VERSION[:2], django_events.__version__)"], env=env, cwd=project)
    assert versions.startswith("(3, 13) (6, 1) "), versions
    installed = run(["uv", "pip", "list", "--python", str(python)]).lower()
    assert "confluent-kafka" in installed and "psycopg" in installed
    assert "pika" not in installed and "jsonschema" not in installed, "only the extras asked for"

    django = [str(python), "-m", "django"]
    run([*django, "makemigrations", "shop", "-v", "0"], cwd=project, env=env)
    run([*django, "migrate", "-v", "0"], cwd=project, env=env)
    run([*django, "check"], cwd=project, env=env)

    workers = [subprocess.Popen([*django, command], cwd=project, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE) for command in ("events_relay", "events_consume")]
    try:
        run([str(python), "-c", PLACE_ORDERS], cwd=project, env=env)
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + env["SCRATCH_DATABASE"]
        deadline = time.monotonic() + 180
        with psycopg.connect(url, autocommit=True) as connection:
            while True:
                row = connection.execute("SELECT count(*), coalesce(sum(total), 0) FROM shop_order_view").fetchone()
                if row == (ORDERS, sum(range(ORDERS))):
                    break
                assert time.monotonic() < deadline, f"the read model holds {row} of {ORDERS} orders"
                time.sleep(0.5)
            unsent = connection.execute("SELECT count(*) FROM django_events_outbox WHERE sent_at IS NULL").fetchone()
            assert unsent == (0,)
    finally:
        for worker in workers:
            worker.terminate()
        codes = [worker.wait(60) for worker in workers]
    assert codes == [0, 0], [worker.stderr.read().decode()[-2000:] for worker in workers if worker.stderr]
