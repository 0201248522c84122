"""The one supervisor of the platform's processes: `make run`'s, the fault suites' and the benches'.

It starts each process in a session of its own (so Ctrl-C on the terminal reaches only the supervisor, which
stops them in order), sends its output to the terminal with the process's name in front or to a log file of its
own, restarts what exits with a growing delay as Kubernetes does (or treats an exit as a failure, for a bench),
kills one on demand for the fault suites, and stops them all: on return, on an exception, on SIGTERM/SIGINT/SIGHUP
and, through the kernel's parent-death signal, when the supervisor itself is SIGKILLed.

It is hand-written rather than honcho, supervisord or circus: honcho restarts nothing, and none of them restarts
the relays and consumers with the broker, makes its children die with it (all three leave them behind on
SIGKILL), or checks ports before starting; the rest is a loop of a few lines.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from fleet.plan import Process

COLOURS = itertools.cycle(["\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m"])
RESET = "\033[0m"
STOP_GRACE = 15.0
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int, parent: int) -> None:
    """Asks the kernel to send ``sig`` to this process when ``parent`` dies, whatever kills it."""
    _libc.prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


class CrashLoop(Exception):
    """A process keeps exiting: everything stops."""


class Exited(SystemExit):
    """A process exited under a supervisor that restarts nothing."""


class Stopped(SystemExit):
    """SIGTERM, SIGINT or SIGHUP asked the supervisor to stop everything."""


@dataclass(frozen=True)
class Backoff:
    """Restart delays double from ``first`` to ``last``, as a Kubernetes pod's back-off does; a process that ran
    ``healthy_after`` seconds starts again from ``first``; one that exits more than ``crash_limit`` times within
    ``crash_window`` stops everything (never, with no limit)."""

    first: float = 1.0
    last: float = 30.0
    healthy_after: float = 60.0
    crash_limit: int | None = 5
    crash_window: float = 300.0


# What `make run` does, and what the fault suites do: they kill processes on purpose, often, and want them back
# at once.
KUBERNETES = Backoff()
FAULTS = Backoff(first=0.5, last=8.0, healthy_after=2.0, crash_limit=None)


@dataclass
class Program:
    """A long-running process of the plan and its current run."""

    process: Process
    needs_broker: bool = False
    # A relay started after a fresh embedded broker sends the whole retained outbox again (the broker's log died).
    resends_after_fresh_broker: bool = False
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None
    exits: list[float] = field(default_factory=list)
    restarts: int = 0
    broker_seen: int = 0

    @property
    def name(self) -> str:
        return self.process.name

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Supervisor:
    """Its processes, each with its own restart state. ``logs``: a folder for one log file per process (else the
    output goes to stdout, prefixed); ``backoff``: None to treat any exit as a failure (raises Exited)."""

    logs: Path | None = None
    backoff: Backoff | None = KUBERNETES
    voice: str = "run"
    colour: bool = field(default_factory=sys.stdout.isatty)
    programs: list[Program] = field(default_factory=list)
    broker: Program | None = None
    broker_address: str = ""
    broker_starts: int = 0
    events: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _watcher: threading.Thread | None = None

    def say(self, message: str) -> None:
        self.events.append(message)
        print(f"{self.voice} | {message}", flush=True)

    # Starting

    def spawn(self, process: Process) -> subprocess.Popen[bytes]:
        out: int | IO[bytes] = subprocess.PIPE
        if self.logs is not None:
            out = (self.logs / f"{process.name}.log").open("ab")
        # The parent-death signal follows the thread that forked: only the main thread's children can have it
        # without dying with a watcher thread.
        supervisor = os.getpid()
        preexec = (lambda: die_with_parent(signal.SIGKILL, supervisor)) \
            if threading.current_thread() is threading.main_thread() else None
        popen = subprocess.Popen(
            process.command, cwd=process.cwd, env={**os.environ, "PYTHONUNBUFFERED": "1", **process.env},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=preexec,
        )
        if self.logs is None:
            prefix = f"{next(COLOURS)}{process.name:>14}{RESET}" if self.colour else f"{process.name:>14}"
            threading.Thread(target=self._pipe, args=(prefix, popen), daemon=True).start()
        else:
            assert not isinstance(out, int)
            out.close()
        return popen

    def add(self, process: Process, *, needs_broker: bool = False, resends_after_fresh_broker: bool = False) -> Program:
        program = Program(process, needs_broker=needs_broker, resends_after_fresh_broker=resends_after_fresh_broker)
        with self.lock:
            self.programs.append(program)
            self.start(program)
        return program

    def add_broker(self, process: Process, address: str) -> Program:
        """The broker the relays and consumers that need one are restarted with."""
        self.broker_address = address
        self.broker = Program(process)
        with self.lock:
            self.programs.append(self.broker)
            self.start(self.broker)
        return self.broker

    def start(self, program: Program) -> None:
        process = program.process
        if program.resends_after_fresh_broker and program.broker_seen != self.broker_starts:
            process = process.with_arguments("--resend-sent")
            program.broker_seen = self.broker_starts
        program.popen = self.spawn(process)
        program.started_at, program.restart_at = time.monotonic(), None
        if program is self.broker:
            self.broker_starts += 1
            self._wait_for_broker()

    def run_together(self, processes: Iterable[Process]) -> None:
        """Runs one-shot commands (migrations, demo data) side by side to their end, keeping the others alive
        meanwhile; SystemExit names the first that failed."""
        running = {process.name: self.spawn(process) for process in processes}
        try:
            while any(popen.poll() is None for popen in running.values()):
                self.tick()
                time.sleep(0.2)
        finally:
            for popen in running.values():
                if popen.poll() is None:  # stopped meanwhile
                    _signal_group(popen, signal.SIGKILL)
                    popen.wait()
        for name, popen in running.items():
            if popen.returncode != 0:
                where = f"; see {self.logs / (name + '.log')}" if self.logs else ""
                raise SystemExit(f"{self.voice} | {name} failed with {popen.returncode}{where}")

    # Waiting

    def wait_for(self, url: str, timeout: float = 120.0) -> None:
        self.wait_until(lambda: answers(url), f"{url} did not answer", timeout)

    def wait_until(self, condition: Callable[[], bool], failure: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.voice} | {failure} within {timeout:.0f}s")
            self.tick()
            time.sleep(0.3)

    def _wait_for_broker(self, timeout: float = 60.0) -> None:
        assert self.broker is not None and self.broker.popen is not None
        host, port = self.broker_address.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while self.broker.popen.poll() is None and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((host, int(port))) == 0:
                    return
            time.sleep(0.1)

    # Watching

    def tick(self) -> None:
        """Restarts what exited, once its delay is over; raises CrashLoop, Exited or SystemExit to stop
        everything."""
        if self.stopping.is_set():
            raise SystemExit(0)
        if self._watcher is None:
            self._tick()

    def _tick(self) -> None:
        with self.lock:
            now = time.monotonic()
            for program in self.programs:
                if program.restart_at is None and program.popen is not None and program.popen.poll() is not None:
                    self._exited(program, now)
            for program in self.programs:
                if program.restart_at is not None and now >= program.restart_at and self._may_start(program):
                    self.say(f"restarting {program.name}")
                    self.start(program)
                    program.restarts += 1
                    if program is self.broker:
                        self._restart_dependents()

    def _exited(self, program: Program, now: float) -> None:
        assert program.popen is not None
        if self.backoff is None:
            where = f": see {self.logs / (program.name + '.log')}" if self.logs else ""
            raise Exited(f"{program.name} exited with {program.popen.returncode}{where}")
        backoff = self.backoff
        program.exits = [t for t in program.exits if now - t < backoff.crash_window] + [now]
        if backoff.crash_limit is not None and len(program.exits) > backoff.crash_limit:
            raise CrashLoop(f"{program.name} exited {len(program.exits)} times in {backoff.crash_window:.0f}s")
        healthy = now - program.started_at >= backoff.healthy_after
        program.delay = backoff.first if healthy or not program.delay else min(backoff.last, program.delay * 2)
        program.restart_at = now + program.delay
        delay = f"{program.delay:.0f}s" if program.delay >= 1 else f"{program.delay:.1f}s"
        self.say(f"{program.name} exited with {program.popen.returncode}; restarting it in {delay}")
        if program is self.broker:
            # The relays' producers and the consumers' positions belong to the broker that died: stop them and
            # start them afresh once it is back (the relays then send the retained outbox again).
            self.say("stopping the relays and consumers until the broker is back")
            dependents = [p for p in self.programs if p.needs_broker]
            self._stop([p for p in dependents if p.running()])
            for dependent in dependents:
                dependent.restart_at = float("inf")

    def _may_start(self, program: Program) -> bool:
        return not program.needs_broker or self.broker is None or self.broker.running()

    def _restart_dependents(self) -> None:
        self.say("the broker is back; starting the relays and consumers")
        for program in self.programs:
            if program.needs_broker and program.restart_at == float("inf"):
                self.start(program)

    def watch(self) -> None:
        """Returns when a stop is requested; raises CrashLoop when a process keeps exiting."""
        try:
            while True:
                self.tick()
                time.sleep(0.5)
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise

    def watch_in_background(self) -> None:
        """Restarts what exits from a thread of its own, for a caller busy with other work (the fault suites)."""

        def watch() -> None:
            while not self.stopping.wait(0.2):
                try:
                    self._tick()
                except Exception as error:  # noqa: BLE001 - said, and the suite sees the process stay dead
                    self.say(f"the watcher: {error}")

        self._watcher = threading.Thread(target=watch, name="fleet-watcher", daemon=True)
        self._watcher.start()

    @contextmanager
    def stopping_on_signals(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
        """Stops everything on leaving, and turns the first of ``signals`` into Stopped in the main thread (its
        `finally` blocks run, this one's included), so nothing it started outlives a SIGTERM."""

        def stop(signum: int, _: FrameType | None) -> None:
            if self.stopping.is_set():  # a second signal: the first one's stop is under way
                return
            self.stopping.set()
            raise Stopped(0)

        previous = {sig: signal.signal(sig, stop) for sig in signals}
        try:
            yield
        finally:
            try:
                self.stop_all()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    # Faults

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signals one process's group; unless stopped, it is restarted like any that exits."""
        with self.lock:
            program = self.program(name)
            assert program.popen is not None
            _signal_group(program.popen, sig)

    def program(self, name: str) -> Program:
        return next(program for program in self.programs if program.name == name)

    def restarts(self) -> dict[str, int]:
        return {program.name: program.restarts for program in self.programs if program.restarts}

    def pids(self) -> dict[int, str]:
        return {program.popen.pid: program.name for program in self.programs if program.popen is not None}

    # Stopping

    def _stop(self, programs: list[Program]) -> None:
        for program in programs:
            assert program.popen is not None
            _signal_group(program.popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for program in programs:
            assert program.popen is not None
            try:
                program.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{program.name} did not stop within {STOP_GRACE:.0f}s; killing it")
                _signal_group(program.popen, signal.SIGKILL)
                program.popen.wait()

    def retire(self, name: str) -> None:
        """Stops one process for good, as SIGTERM does (a web process finishes what it serves), and forgets it:
        the old colour of a blue/green deploy once the gateway no longer sends it anything."""
        with self.lock:
            program = self.program(name)
            if program.running():
                self._stop([program])
            self.programs.remove(program)

    def stop_all(self) -> None:
        self.stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        with self.lock:
            if not self.programs:
                return
            self.say("stopping every process")
            # The broker last: relays and consumers finish against it.
            self._stop([p for p in self.programs if p is not self.broker and p.running()])
            self._stop([p for p in self.programs if p is self.broker and p.running()])
            self.say("all stopped")

    def _pipe(self, prefix: str, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            sys.stdout.write(f"{prefix} | {line.decode(errors='replace')}")
            sys.stdout.flush()


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass


def answers(url: str) -> bool:
    """Whether ``url`` answers with anything but a server error."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except OSError:
        return False


def broker_answers(bootstrap: str) -> bool:
    """Whether any of the Kafka bootstrap addresses takes a connection."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        with socket.socket() as probe:
            probe.settimeout(2)
            if probe.connect_ex((host, int(port))) == 0:
                return True
    return False

