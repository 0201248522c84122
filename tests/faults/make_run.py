"""`make run` itself as a target of the fault cases: dev/run.py on its embedded default (SQLite files, the Tansu
broker), in a copy of the tree so that its SQLite files are its own, on ports from FAULTS_RUN_PORT (26000: the
gateway, the services on the next four, the broker on +92).

The processes to kill are the supervisor's children; what it restarted, it says in its log.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fleet.plan import copy_run_tree
from tests.faults.platform import SERVICES, STATE

RUN_PORT = int(os.environ.get("FAULTS_RUN_PORT", 26000))
# SQLite takes one writer at a time and the machine has two cores: a lighter load than on PostgreSQL.
RUN_RATE = float(os.environ.get("FAULTS_RUN_RATE", 5))
# The voters register and log in through the gateway; the services' own throttles on both would make them wait
# minutes (the gateway's limits stay, and apply to each voter's address as to a person).
UNTHROTTLED = "auth_register=100000/min,auth_token=100000/min"
# What would move make run off its embedded default, or its topics off the names the cases read.
EMBEDDED_DEFAULT_UNSET = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "EVENTS_TRANSPORT", "KAFKA_TOPIC_PREFIX"}
# A copy of a tree that make run reads: its code, the list of services, and nothing it wrote.
# What the supervisor says of its processes; "restarting <name>" when it starts one again after it exited.
SAID = re.compile(r"^run \| (.*(?:exited with|restarting|broker is back|ready:).*)$", re.MULTILINE)
RESTARTING = re.compile(r"^restarting (\S+)$")


def copy_of_the_tree(where: Path) -> Path:
    """The tree make run runs from, with auth-service on a fast password hasher: the suite registers its voters,
    and the real hasher is slow on purpose (tests/faults/settings/ does the same for the suite's own platform)."""
    copy_run_tree(where)
    with open(where / "services" / "auth-service" / "config" / "settings" / "base.py", "a") as settings:
        settings.write('\nPASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n')
    return where


@dataclass
class MakeRun:
    tree: Path
    log: Path
    name: str = "make-run"
    vote_topic: str = "vote"
    rate: float = RUN_RATE
    gateway: str = f"http://127.0.0.1:{RUN_PORT}"
    bootstrap: str = f"127.0.0.1:{RUN_PORT + 92}"
    voter_count: int = int(os.environ.get("FAULTS_RUN_VOTERS", 50))
    supervisor: subprocess.Popen[bytes] | None = None
    supervisor_restarts: int = 0
    said_before: list[str] = field(default_factory=list)  # what supervisors killed earlier said

    def start(self, timeout: float = 600.0) -> None:
        """Starts dev/run.py and returns once it says it is ready."""
        env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_DEFAULT_UNSET}
        env |= {"THROTTLE_RATES": UNTHROTTLED, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "dev/run.py", "--port", str(RUN_PORT), "--broker-port", self.bootstrap.rsplit(":", 1)[1]]
        self.said_before += self._said()
        with open(self.log, "wb") as out:  # each run its own log: the counts below read the current one
            self.supervisor = subprocess.Popen(command, cwd=self.tree, env=env, stdout=out, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True)
        supervisor = self.supervisor
        deadline = time.monotonic() + timeout
        while "run | ready:" not in self._output():
            if supervisor.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"make run did not get ready (exit {supervisor.poll()}):\n{self._output()[-4000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.supervisor is None or self.supervisor.poll() is not None:
            return
        started = _descendants(self.supervisor.pid)
        os.killpg(self.supervisor.pid, signal.SIGINT)  # Ctrl-C
        try:
            self.supervisor.wait(90)
        except subprocess.TimeoutExpired:
            self.supervisor.kill()
            self.supervisor.wait()
        _wait_gone(started)

    def kill(self, name: str) -> None:
        """SIGKILL to the process group of one supervised process: `vote-relay`, `polls-consumer`, `broker`..."""
        os.killpg(self._child(name).pid, signal.SIGKILL)

    def kill_supervisor(self) -> None:
        """SIGKILL to dev/run.py alone, as an OOM kill or a crashed terminal: its children must die with it."""
        assert self.supervisor is not None
        started = _descendants(self.supervisor.pid)
        self.supervisor.kill()
        self.supervisor.wait()
        self.supervisor_restarts += 1
        if left := _wait_gone(started):
            raise AssertionError(f"{len(left)} processes outlived the supervisor: {left}")

    def restarts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for said in self.events():
            if restarted := RESTARTING.match(said):
                counted[restarted[1]] = counted.get(restarted[1], 0) + 1
        return counted | ({"supervisor": self.supervisor_restarts} if self.supervisor_restarts else {})

    def events(self) -> list[str]:
        return self.said_before + self._said()

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{SERVICES[name].port_beside(RUN_PORT)}"

    def vote_counts(self, poll_ids: list[str], subscriber: str) -> tuple[int, int]:
        """As the PostgreSQL platform's, from the SQLite files (where Django keeps a UUID as 32 hex digits)."""
        hexes = [uuid.UUID(p).hex for p in poll_ids]
        with self._sqlite("vote") as votes:
            rows = votes.execute(f"SELECT count(*) FROM votes_vote WHERE poll_id IN ({_marks(hexes)})", hexes).fetchone()[0]
            events = [row[0] for row in votes.execute(
                f"SELECT event_id FROM django_events_outbox WHERE event_type = 'vote.cast' AND key IN ({_marks(poll_ids)})",
                poll_ids)]
        with self._sqlite("polls") as polls:
            inbox = polls.execute(
                f"SELECT count(*) FROM django_events_inbox WHERE subscriber = ? AND event_id IN ({_marks(events)})",
                [subscriber, *events]).fetchone()[0]
        return rows, inbox

    def _sqlite(self, service: str) -> sqlite3.Connection:
        path = self.tree / "services" / f"{service}-service" / "var" / "db.sqlite3"
        # Read-only beside the writers; their write lock held a moment is waited for.
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def _child(self, name: str) -> psutil.Process:
        assert self.supervisor is not None
        service, _, role = name.partition("-")
        marker = {"web": "uvicorn", "relay": "events_relay", "consumer": "events_consume"}.get(role, "tansu")
        for process in psutil.Process(self.supervisor.pid).children():
            try:
                command, cwd = " ".join(process.cmdline()), process.cwd()
            except psutil.Error:
                continue  # exited meanwhile
            if marker in command and (name == "broker" or cwd.endswith(f"{service}-service")):
                return process
        raise LookupError(f"make run has no {name} running")

    def _output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _said(self) -> list[str]:
        return SAID.findall(self._output())


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values)) or "NULL"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_gone(processes: list[psutil.Process], timeout: float = 60.0) -> list[int]:
    """The pids still running after ``timeout``: a zombie, killed and not yet reaped by whoever adopted it, is gone."""
    deadline = time.monotonic() + timeout
    while (left := [p.pid for p in processes if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_make_run() -> MakeRun:
    state = STATE / "make-run"
    state.mkdir(parents=True, exist_ok=True)
    log = state / "run.log"
    log.unlink(missing_ok=True)
    run = MakeRun(copy_of_the_tree(state / "tree"), log)
    run.start()
    return run

