"""Starts the whole platform with `dev/run.py` (what `make run` runs) on real PostgreSQL and Kafka."""

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

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_PORT = int(os.environ.get("E2E_GATEWAY_PORT", 18000))
SERVICE_DATABASES = ["auth_service", "polls_service", "choice_service", "vote_service"]


@dataclass
class Platform:
    url: str
    runner: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def fresh_databases(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name in SERVICE_DATABASES:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {name}")


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


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not (database_url and bootstrap):
        pytest.skip("needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (make infra-up)")
    fresh_databases(database_url)
    log = tmp_path_factory.mktemp("platform") / "run.log"
    env = {**os.environ, "KAFKA_TOPIC_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}."}
    with open(log, "wb") as out:
        runner = subprocess.Popen(
            [sys.executable, str(ROOT / "dev" / "run.py"), "--port", str(GATEWAY_PORT)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    platform = Platform(f"http://127.0.0.1:{GATEWAY_PORT}", runner, log)
    try:
        deadline = time.monotonic() + 120
        while b"ready:" not in log.read_bytes():
            assert runner.poll() is None, f"the platform failed to start:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"the platform did not start in time:\n{log.read_text()[-4000:]}"
            time.sleep(0.5)
        yield platform
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            runner.wait(60)


def eventually(check: Callable[[], httpx.Response], until: Callable[[httpx.Response], bool], timeout: float = 30.0) -> httpx.Response:
    """Projections catch up asynchronously: retry a request until its answer shows the event arrived."""
    deadline = time.monotonic() + timeout
    while True:
        response = check()
        if until(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)
