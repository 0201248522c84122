"""The platform as `dev/run.py` starts it (each service's web process, relay and consumer, then the gateway), on
the suite's own PostgreSQL and Apache Kafka, so that it may kill, restart and cut them off at will.

polls-service's consumer runs in a network namespace of its own, joined to the host by a veth pair: the broker
and the database listen on the host's end of it, and an iptables rule inside the namespace cuts that consumer
off from the broker for real. A supervisor restarts any process that exits, with backoff, as Kubernetes would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from service_kit.settings import database_url_for

from fleet import load
from fleet import plan as fleet_plan
from fleet.plan import PLAINTEXT
from fleet.supervisor import FAULTS, Supervisor, answers

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STATE = ROOT / ".cache" / "faults"
PORT_BASE = int(os.environ.get("FAULTS_PORT_BASE", 25000))
# The platform's one list: each service's port is PORT_BASE plus its offset from the gateway's 8000.
SERVICES = {service.name: service for service in load()}


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:.0f}s")
        time.sleep(interval)


def sh(*command: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {(done.stdout + done.stderr)[-2000:]}")
    return done


@dataclass
class Namespace:
    """A network namespace joined to the host by a veth pair: host end `host_ip`, namespace end `ns_ip`."""

    name: str = "polls-faults"
    host_ip: str = "10.250.25.1"
    ns_ip: str = "10.250.25.2"
    host_link: str = "pfaults0"
    ns_link: str = "pfaults1"
    rules: list[list[str]] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"{self.host_ip.rsplit('.', 1)[0]}.0/30"

    def create(self) -> None:
        self.delete()
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.ns_link)
        sh("ip", "link", "set", self.ns_link, "netns", self.name)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_link)
        sh("ip", "link", "set", self.host_link, "up")
        sh("ip", "-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_link)
        sh("ip", "-n", self.name, "link", "set", self.ns_link, "up")
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def delete(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)  # takes its end of the veth pair, and so the pair
        sh("ip", "link", "del", self.host_link, check=False)

    def run(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def cut(self, port: int) -> None:
        """Drops every packet between the namespace and the host's `port`, both ways: a partition, not a refusal."""
        self.rules = [
            ["OUTPUT", "-p", "tcp", "-d", self.host_ip, "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-p", "tcp", "-s", self.host_ip, "--sport", str(port), "-j", "DROP"],
        ]
        for rule in self.rules:
            sh(*self.run(["iptables", "-I", *rule]))

    def heal(self) -> None:
        for rule in self.rules:
            sh(*self.run(["iptables", "-D", *rule]))
        self.rules = []


@dataclass
class Infrastructure:
    """The suite's own PostgreSQL and Apache Kafka, both listening on the host's end of the veth pair."""

    namespace: Namespace
    pg_port: int = PORT_BASE + 432
    kafka_port: int = PORT_BASE + 92
    pg_dir: Path = STATE / "pg"
    kafka_home: Path = STATE / "kafka"

    @property
    def database_url(self) -> str:
        return f"postgresql://polls:polls@{self.namespace.host_ip}:{self.pg_port}/polls"

    @property
    def bootstrap(self) -> str:
        return f"{self.namespace.host_ip}:{self.kafka_port}"

    def _postgres(self, action: str) -> None:
        listen = f"127.0.0.1,{self.namespace.host_ip}"
        sh("bash", str(HERE / "postgres.sh"), action, str(self.pg_dir), str(self.pg_port), listen, self.namespace.network)

    def _kafka(self, action: str) -> None:
        # Plaintext: the suite is about crashes, and its broker listens only where the suite's processes are.
        env = {"KAFKA_PORT": str(self.kafka_port), "KAFKA_HOME": str(self.kafka_home), "KAFKA_HOST": self.namespace.host_ip,
               "INFRA_WAIT_SECONDS": "300", "KAFKA_SASL": "off"}
        sh("bash", str(ROOT / "infra" / "infra.sh"), action, env=env)

    def up(self) -> None:
        self._kafka("kafka-down")
        self._postgres("down")  # a fresh cluster and a fresh broker log on every run
        shutil.rmtree(self.kafka_home / "data", ignore_errors=True)
        self._postgres("up")
        self._kafka("kafka-up")
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            for name in (service.database for service in SERVICES.values()):
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                connection.execute(f"CREATE DATABASE {name}")

    def down(self) -> None:
        self._kafka("kafka-down")
        self._postgres("down")

    def stop_kafka(self) -> None:
        self._kafka("kafka-down")

    def start_kafka(self) -> None:
        self._kafka("kafka-up")

    def stop_postgres(self) -> None:
        self._postgres("stop")

    def start_postgres(self) -> None:
        self._postgres("up")

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(database_url_for(self.database_url, database), autocommit=True)


@dataclass
class Platform:
    infra: Infrastructure
    supervisor: Supervisor
    gateway: str
    name: str = "postgresql-kafka"
    vote_topic: str = "faults.vote"
    rate: float = float(os.environ.get("FAULTS_RATE", 10))  # votes per second
    voter_count: int = int(os.environ.get("FAULTS_VOTERS", 200))

    @property
    def bootstrap(self) -> str:
        return self.infra.bootstrap

    def kill(self, name: str) -> None:
        self.supervisor.kill(name)

    def restarts(self) -> dict[str, int]:
        return self.supervisor.restarts()

    def events(self) -> list[str]:
        return list(self.supervisor.events)

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{SERVICES[name].port_beside(PORT_BASE)}"

    def vote_counts(self, poll_ids: list[str], subscriber: str) -> tuple[int, int]:
        """vote-service's vote rows of these polls, and how many of their vote.cast events polls-service's inbox
        records for ``subscriber``."""
        with self.infra.connect(SERVICES["vote"].database) as votes:
            rows = votes.execute("SELECT count(*) FROM votes_vote WHERE poll_id = ANY(%s::uuid[])", [poll_ids]).fetchone()[0]
            events = [row[0] for row in votes.execute(
                "SELECT event_id FROM django_events_outbox WHERE event_type = 'vote.cast' AND key = ANY(%s)", [poll_ids])]
        with self.infra.connect(SERVICES["polls"].database) as polls:
            inbox = polls.execute(
                "SELECT count(*) FROM django_events_inbox WHERE subscriber = %s AND event_id = ANY(%s)", [subscriber, events]
            ).fetchone()[0]
        return rows, inbox


def service_env(infra: Infrastructure) -> dict[str, str]:
    """What dev/run.py gives each service, pointed at the suite's infrastructure."""
    env = fleet_plan.service_env(bootstrap=infra.bootstrap, gateway_port=PORT_BASE,
                                 auth_port=SERVICES["auth"].port_beside(PORT_BASE))
    # Its broker is plaintext (KAFKA_SASL=off): not the credentials of `make infra-up`'s, if the shell has them.
    return {**env, "KAFKA_TOPIC_PREFIX": "faults.", **PLAINTEXT}


# auth-service as dev/run.py starts it but with a fast password hasher: the suite registers a few hundred voters,
# and the real hasher is slow on purpose.
FAST_HASHING = {"DJANGO_SETTINGS_MODULE": "fast_hashing_settings", "PYTHONPATH": str(HERE / "settings")}
# The consumer the partition case cuts off from the broker.
PARTITIONED = "polls-consumer"


def start_platform() -> Platform:
    STATE.mkdir(parents=True, exist_ok=True)
    logs = STATE / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    namespace = Namespace()
    namespace.create()
    infra = Infrastructure(namespace)
    infra.up()
    supervisor = Supervisor(logs=logs, backoff=FAULTS, voice="faults")
    base_env = service_env(infra)
    for service in SERVICES.values():
        # Each service its own database on the one server, as dev/run.py does.
        database = {"DATABASE_URL": database_url_for(infra.database_url, service.database)}
        env = {**base_env, **database, **(FAST_HASHING if service.name == "auth" else {})}
        plan = fleet_plan.plan(service, port=service.port_beside(PORT_BASE), env=env)
        supervisor.run_together([plan.migrate])
        for process in (plan.web, *plan.relays, *plan.consumers):
            supervisor.add(process.wrapped(*namespace.run([])) if process.name == PARTITIONED else process)
    supervisor.watch_in_background()
    for service in SERVICES.values():
        url = f"http://127.0.0.1:{service.port_beside(PORT_BASE)}/healthz"
        wait_until(lambda: answers(url), 120, "a service's /healthz")
    ports = [(service, service.port_beside(PORT_BASE)) for service in SERVICES.values()]
    supervisor.add(fleet_plan.gateway(port=PORT_BASE, upstream=fleet_plan.upstreams(ports)))
    gateway = f"http://127.0.0.1:{PORT_BASE}"
    wait_until(lambda: answers(f"{gateway}/healthz"), 60, "the gateway")
    return Platform(infra, supervisor, gateway)


def stop_platform(platform: Platform) -> None:
    platform.supervisor.stop_all()
    platform.infra.namespace.heal()
    platform.infra.down()
    platform.infra.namespace.delete()
