"""Starts the whole platform three times: `dev/run.py` on real PostgreSQL and Kafka, the same with every service's
events on RabbitMQ, and `make run` from a clean clone on its embedded default (SQLite files, the Tansu broker), as
a newcomer would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psycopg
import pytest

import fleet

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_PORT = int(os.environ.get("E2E_GATEWAY_PORT", 18000))
EMBEDDED_GATEWAY_PORT = GATEWAY_PORT + 100
RABBITMQ_GATEWAY_PORT = GATEWAY_PORT + 200
EMBEDDED_BROKER_PORT = int(os.environ.get("E2E_BROKER_PORT", 19192))
SERVICE_DATABASES = [service.database for service in fleet.load()]


@dataclass
class Platform:
    url: str
    runner: subprocess.Popen[bytes]
    log: Path
    # The variables that chose its broker, topics and wire (EVENTS_TRANSPORT, KAFKA_TOPIC_PREFIX, ...).
    events_env: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def tracing_env() -> dict[str, str]:
    """Spans to the Zipkin of `make infra-up` (ZIPKIN_URL), batched briefly so a test finds them at once; without
    one, made, propagated and logged only."""
    zipkin = os.environ.get("ZIPKIN_URL")
    if not zipkin:
        return {"OTEL_TRACES_EXPORTER": "none"}
    return {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans", "OTEL_BSP_SCHEDULE_DELAY": "200"}


def fresh_databases(database_url: str) -> None:
    """Drops the services' databases: dev/run.py creates them, each named <service>_service on this server."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name in SERVICE_DATABASES:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(frontier.pop())], capture_output=True, text=True).stdout
        children = {int(p) for p in out.split()}
        found |= children
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


Started = tuple[str, subprocess.Popen[bytes], dict[str, str]]


def start_on_real_infrastructure(tmp_path: Path, out: IO[bytes]) -> Started:
    """`dev/run.py` of this tree, each service with its own database on PostgreSQL, on Apache Kafka."""
    database_url = os.environ.get("DATABASE_URL")
    if not (database_url and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        pytest.skip("needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (make infra-up)")
    fresh_databases(database_url)
    events_env = {"EVENTS_TRANSPORT": "kafka", "KAFKA_TOPIC_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}."}
    command = [sys.executable, str(ROOT / "dev" / "run.py"), "--port", str(GATEWAY_PORT)]
    env = {**os.environ, **events_env, **tracing_env()}
    return f"http://127.0.0.1:{GATEWAY_PORT}", _start(command, ROOT, env, out), events_env


def start_on_rabbitmq(tmp_path: Path, out: IO[bytes]) -> Started:
    """`dev/run.py` of this tree on PostgreSQL, every service's events on RabbitMQ: one setting changed. Its events
    are CloudEvents alone, without the field names of django-events 0.1 (nothing of 0.1 reads them here)."""
    database_url = os.environ.get("DATABASE_URL")
    if not (database_url and os.environ.get("RABBITMQ_URL")):
        pytest.skip("needs DATABASE_URL and RABBITMQ_URL (make infra-up)")
    fresh_databases(database_url)
    events_env = {"EVENTS_TRANSPORT": "rabbitmq", "KAFKA_TOPIC_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}.",
                  "EVENTS_LEGACY_ENVELOPE": "off"}
    command = [sys.executable, str(ROOT / "dev" / "run.py"), "--port", str(RABBITMQ_GATEWAY_PORT)]
    env = {**os.environ, **events_env, **tracing_env()}
    return f"http://127.0.0.1:{RABBITMQ_GATEWAY_PORT}", _start(command, ROOT, env, out), events_env


def start_make_run_from_a_clean_clone(tmp_path: Path, out: IO[bytes]) -> Started:
    """What a newcomer types: `make run` in a fresh clone, on the embedded default (SQLite files, Tansu)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    unwanted = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "EVENTS_TRANSPORT",
                "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
    # A newcomer has no trace viewer configured either: `make run` says where traces would go.
    env = {k: v for k, v in os.environ.items() if k not in unwanted and not k.startswith(("OTEL_", "ZIPKIN_"))}
    env |= {"PORT": str(EMBEDDED_GATEWAY_PORT), "BROKER_PORT": str(EMBEDDED_BROKER_PORT)}
    return f"http://127.0.0.1:{EMBEDDED_GATEWAY_PORT}", _start(["make", "run"], clone, env, out), {"EVENTS_TRANSPORT": "embedded"}


def _start(command: list[str], cwd: Path, env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    # A session of its own, so the test can press Ctrl-C as a terminal does: SIGINT to the whole process group.
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_ready_line(runner: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until dev/run.py prints "ready:", once every web process answers and every consumer holds its partitions."""
    deadline = time.monotonic() + timeout
    while b"ready:" not in log.read_bytes():
        assert runner.poll() is None, f"the platform failed to start:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"the platform did not start in time:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def interrupt(runner: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(runner.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by the platform they share
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that stops the shared platform goes last among the tests of its platform, whichever files the
    others are in."""
    for stopper in [item for item in items if item.get_closest_marker("stops_platform")]:
        items.remove(stopper)
        same = [index for index, item in enumerate(items) if _platform_of(item) == _platform_of(stopper)]
        items.insert(same[-1] + 1 if same else len(items), stopper)


def _platform_of(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("platform") if callspec else None


@pytest.fixture(
    scope="session",
    params=[start_on_real_infrastructure, start_on_rabbitmq, start_make_run_from_a_clean_clone],
    ids=["postgresql-kafka", "postgresql-rabbitmq", "make-run-embedded"],
)
def platform(request, tmp_path_factory) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("platform")
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        url, runner, events_env = request.param(tmp_path, out)
    platform = Platform(url, runner, log, events_env)
    try:
        wait_for_ready_line(runner, log, timeout=300)  # the clean clone builds its own virtualenv first
        yield platform
    finally:
        if runner.poll() is None:
            interrupt(runner)
            runner.wait(60)


def eventually(check: Callable[[], httpx.Response], until: Callable[[httpx.Response], bool],
               timeout: float = 30.0) -> httpx.Response:
    """Projections catch up asynchronously: retry a request until its answer shows the event arrived."""
    deadline = time.monotonic() + timeout
    while True:
        response = check()
        if until(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def register_and_login(client: httpx.Client, username: str) -> dict[str, str]:
    credentials = {"username": username, "password": "a-long-password-42"}
    registered = _honouring_retry_after(lambda: client.post("/api/auth/register/", json=credentials))
    assert registered.status_code == 201, registered.text
    assert registered.json()["username"] == username
    tokens = _honouring_retry_after(lambda: client.post("/api/auth/token/", json=credentials))
    assert tokens.status_code == 200, tokens.text
    assert set(tokens.json()) >= {"access", "refresh"}
    return {"Authorization": f"Bearer {tokens.json()['access']}"}


def _honouring_retry_after(send: Callable[[], httpx.Response], attempts: int = 3) -> httpx.Response:
    """Registration and login are throttled per client (20/min), and the tests before may have used the window
    up: wait as the 429's Retry-After says, as a well-behaved client does."""
    for _ in range(attempts - 1):
        response = send()
        if response.status_code != 429:
            return response
        time.sleep(min(int(response.headers.get("Retry-After", 1)), 61) + 0.5)
    return send()
