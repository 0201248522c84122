"""`make run`'s supervisor (dev/run.py) on its embedded default: ports are checked before anything starts, the web
processes take writes while no broker answers, and nothing is left behind when make stops. Its processes SIGKILLed
under a vote load are tests/faults/test_make_run_faults.py (make test-faults-run). Each test runs a copy of the tree,
so its SQLite files are its own."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import fleet
from fleet.plan import copy_run_tree
from tests.e2e.conftest import (
    EMBEDDED_BROKER_PORT,
    GATEWAY_PORT,
    ROOT,
    alive,
    descendants,
    register_and_login,
)

PORTS_BROKER_PORT = EMBEDDED_BROKER_PORT + 2
PORTS_PORT = GATEWAY_PORT + 300
BROKERLESS_PORT = GATEWAY_PORT + 500
# The services' own throttles on registration and login would make the voters wait minutes; the gateway's limits
# stay, and the voters honour them as a real client does.
UNTHROTTLED = "auth_register=100000/min,auth_token=100000/min"


def copy_of_the_tree(tmp_path: Path) -> Path:
    return copy_run_tree(tmp_path / "tree")


def run_env(**extra: str) -> dict[str, str]:
    unwanted = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "PORT", "BROKER_PORT"}
    return {k: v for k, v in os.environ.items() if k not in unwanted} | {"THROTTLE_RATES": UNTHROTTLED} | extra


@dataclass
class Run:
    """One dev/run.py, its output in a file."""

    tree: Path
    args: list[str]
    log: Path
    command: list[str] = field(default_factory=lambda: [sys.executable, "dev/run.py"])
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [*self.command, *self.args],
                cwd=self.tree, env=run_env(**self.env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, text: str, *, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.output())
        while text not in self.output()[start:]:
            exited = self.process.poll()
            assert exited is None, f"dev/run.py exited with {exited}:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in time:\n{self.output()[-4000:]}"
            time.sleep(0.3)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGINT)
            run.process.wait(60)


def gone(pids: set[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_port_in_use_is_named_with_its_holder_and_nothing_starts(tmp_path, runs):
    tree = copy_of_the_tree(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", PORTS_PORT + 2))
        holder.listen()
        args = ["--port", str(PORTS_PORT), "--broker-port", str(PORTS_BROKER_PORT)]
        runs.append(run := Run(tree, args, tmp_path / "run.log"))
        assert run.process.wait(60) != 0
    last = run.output().strip().splitlines()[-1]
    assert f"port {PORTS_PORT + 2} (polls-service) is already in use by pid {os.getpid()}" in last
    assert "starting" not in run.output()


def test_web_processes_are_ready_and_take_writes_while_no_broker_answers(tmp_path, runs):
    """A web process's readiness is its database alone: with a broker address nobody answers on, every listed
    service's /readyz is 200, and a registration is accepted into auth-service's outbox for the relay to send
    once a broker answers."""
    tree = copy_of_the_tree(tmp_path)
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        broker = f"127.0.0.1:{nobody.getsockname()[1]}"  # closed again before anything connects
    run = Run(tree, ["--port", str(BROKERLESS_PORT)], tmp_path / "run.log", env={"KAFKA_BOOTSTRAP_SERVERS": broker})
    runs.append(run)
    run.wait_for_line("ready:")
    for service in fleet.load(tree / "services.toml"):  # dev/run.py shifts each listed port with the gateway's
        ready = httpx.get(f"http://127.0.0.1:{service.port_beside(BROKERLESS_PORT)}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["checks"]) == (200, {"database": "ok"}), service.name
    with httpx.Client(base_url=f"http://127.0.0.1:{BROKERLESS_PORT}", timeout=30) as client:
        register_and_login(client, "no-broker")
    with sqlite3.connect(tree / "services" / "auth-service" / "var" / "db.sqlite3") as auth:
        unsent = auth.execute("SELECT event_type FROM django_events_outbox WHERE sent_at IS NULL").fetchall()
    assert ("user.registered",) in unsent


def test_make_run_takes_a_free_port_for_the_broker_when_its_default_is_taken_and_dies_with_make(tmp_path, runs):
    tree = copy_of_the_tree(tmp_path)
    shutil.copy(ROOT / "Makefile", tree)
    (tree / ".venv").symlink_to(Path(sys.executable).parent.parent)
    # The tree's virtualenv is this one: `-o` keeps make from rebuilding it.
    make_run = ["make", "--no-print-directory", "-o", ".venv/.ready", "run", f"PORT={PORTS_PORT}"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # someone else's broker on 9092 is the case itself
            squatter.bind(("127.0.0.1", 9092))
            squatter.listen()
        except OSError:
            pass
        runs.append(run := Run(tree, [], tmp_path / "run.log", command=make_run))
        run.wait_for_line("ready:")
    assert "port 9092 is taken; the embedded broker takes" in run.output()
    started = descendants(run.process.pid)
    assert len(started) >= 15  # dev/run.py, the broker, 4 x (web, relay, consumer), the gateway
    run.process.kill()  # make, as an OOM kill or a crashed terminal would
    assert gone(started) == [], "processes outlived make run"


def load_dev_run(monkeypatch):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dev_run", ROOT / "dev" / "run.py")
    assert spec and spec.loader
    dev_run = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dev_run", dev_run)  # dataclasses look their module up
    spec.loader.exec_module(dev_run)
    return dev_run


def test_database_url_gives_each_service_its_own_database_named_after_it(monkeypatch):
    dev_run = load_dev_run(monkeypatch)

    databases = dev_run.service_databases("postgresql://polls:p%40ss@db.internal:6543/polls?sslmode=require")

    assert databases == {
        name: f"postgresql://polls:p%40ss@db.internal:6543/{name}_service?sslmode=require"
        for name in ("auth", "polls", "choice", "vote")
    }
