"""The pieces of the strangler path (docs/migration.md), started with the platform's module (fleet/): the
monolith (monolith/), vote-service, choice-service and polls-service as their charts run them, and the real
nginx gateway rendered from the routing table, whose upstreams move by a configuration reload.

Everything runs on the PostgreSQL of $DATABASE_URL (databases of its own, recreated) and the Kafka of
$KAFKA_BOOTSTRAP_SERVERS (topics under a prefix of its own), on ports from MIGRATION_PORT_BASE on.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse, urlunparse

import jwt
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fleet import ROOT, Service, load
from fleet import plan as fleet_plan
from fleet.plan import Process
from fleet.supervisor import Supervisor, answers

WORK = ROOT / ".cache" / "test-migration"
MONOLITH_DIR = ROOT / "monolith"
MONOLITH_DATABASE = "migration_monolith"
# Each seam's service and its database, in the order the seams move.
DATABASES = {"vote": "migration_vote_service", "choice": "migration_choice_service",
             "polls": "migration_polls_service"}
VOTE_DATABASE, CHOICE_DATABASE, POLLS_DATABASE = DATABASES.values()
# The single-codebase step: each seam's route and the monolith's settings module that serves it alone
# (monolith.settings_<seam>).
SEAM_PROCESSES = {"polls": "polls", "choice": "choices", "vote": "votes"}
ISSUER, AUDIENCE = "polls-auth", "polls-platform"
# The load comes from one address: the services' throttles are lifted (the gateway's per-IP limits are left out
# of its rendering the same way).
LIFTED_THROTTLES = ",".join(
    f"{scope}=1000000/s" for scope in ("burst", "sustained", "scoped", "votes", "auth_register", "auth_token")
)
SERVICES = {service.name: service for service in load()}


def database_url(name: str) -> str:
    return urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def recreate_databases() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        for name in (MONOLITH_DATABASE, *DATABASES.values()):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Issuer:
    """Signs access tokens as auth-service does."""

    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                     key_size=2048))

    @property
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def tokens(self, user_ids: list[str], lifetime: int = 3600) -> list[str]:
        from service_kit.jwks import jwk_thumbprint

        kid, now = jwk_thumbprint(self.key.public_key()), datetime.now(UTC)
        return [jwt.encode({"token_type": "access", "exp": now + timedelta(seconds=lifetime), "iat": now,
                            "jti": uuid.uuid4().hex, "user_id": user_id, "aud": AUDIENCE, "iss": ISSUER},
                           self.key, algorithm="RS256", headers={"kid": kid}) for user_id in user_ids]


def register_users(user_ids: list[str], databases: tuple[str, ...] = (VOTE_DATABASE,)) -> None:
    """What a service's projection of user.registered would hold: it refuses unknown users' tokens (the
    monolith checks the token's signature, issuer and audience only)."""
    for database in databases:
        with psycopg.connect(database_url(database), autocommit=True) as connection:
            connection.execute("INSERT INTO service_kit_known_user (id, username, deleted) "
                               "SELECT unnest(%s::text[]), '', false ON CONFLICT DO NOTHING", [user_ids])


@dataclass
class Migration:
    """The processes of every step; ``routes`` is the gateway's table of upstreams as it stands."""

    supervisor: Supervisor
    port_base: int
    issuer: Issuer
    prefix: str = field(default_factory=lambda: f"migration-{uuid.uuid4().hex[:8]}.")
    routes: dict[str, str] = field(default_factory=dict)
    monolith_colour: str = ""
    split: list[str] = field(default_factory=list)  # the monolith's seam processes running (split_monolith)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port_base}"

    def port(self, name: str) -> int:
        return self.port_base + {"monolith-blue": 1, "monolith-green": 2, "vote": 3, "choice": 4, "polls": 5,
                                  "monolith-polls": 6, "monolith-choices": 7, "monolith-votes": 8}[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def env(self, **extra: str) -> dict[str, str]:
        return {"JWT_PUBLIC_KEYS": self.issuer.public_pem, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE,
                "KAFKA_TOPIC_PREFIX": self.prefix, "THROTTLE_RATES": LIFTED_THROTTLES, "LOG_LEVEL": "WARNING",
                **extra}

    # The monolith

    def monolith_env(self, events: str, settings: str = "monolith.settings") -> dict[str, str]:
        return self.env(DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=database_url(MONOLITH_DATABASE),
                        MONOLITH_EVENTS=events)

    def migrate_monolith(self) -> None:
        command = (sys.executable, "manage.py", "migrate", "--noinput", "-v", "0")
        self.supervisor.run_together([Process("monolith-migrate", command, MONOLITH_DIR, self.monolith_env("off"))])

    def start_monolith_web(self, name: str, events: str, settings: str = "monolith.settings") -> str:
        """One of the monolith's web processes, on ``settings``; returns its URL once it answers."""
        port = self.port(name)
        self.supervisor.add(Process(name, (
            sys.executable, "-m", "uvicorn", "monolith.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--timeout-graceful-shutdown", "20",
        ), MONOLITH_DIR, self.monolith_env(events, settings)))
        url = f"http://127.0.0.1:{port}"
        self.supervisor.wait_for(f"{url}/healthz")
        return url

    def deploy_monolith(self, events: str) -> None:
        """A blue/green deploy: the whole monolith in the colour not serving now (blue first), every route the
        monolith serves (by its one process or by its seam processes) moved to it by a reload, then the old
        processes retired once the old nginx workers are done with them."""
        old = self.monolith_colour
        self.monolith_colour = "green" if old == "blue" else "blue"
        url = self.start_monolith_web(f"monolith-{self.monolith_colour}", events)
        serving = {self.monolith_url(old), *(self.url(name) for name in self.split)} if old else set()
        self.route({name: url for name in SERVICES if name != "auth" and (
            not self.routes or self.routes.get(name) in serving)})
        if old:
            time.sleep(2)  # nginx's old workers finish the requests they hold on the old processes
            for name in (f"monolith-{old}", *self.split):
                self.supervisor.retire(name)
            self.split.clear()

    def split_monolith(self, events: str) -> None:
        """The single-codebase step (docs/migration.md): the same codebase started once per seam on its settings
        module, still on the one database, and each seam's route moved to its own process by a reload."""
        routes = {}
        for route, seam in SEAM_PROCESSES.items():
            name = f"monolith-{seam}"
            routes[route] = self.start_monolith_web(name, events, f"monolith.settings_{seam}")
            self.split.append(name)
        self.route(routes)

    def monolith_url(self, colour: str | None = None) -> str:
        return f"http://127.0.0.1:{self.port(f'monolith-{colour or self.monolith_colour}')}"

    def start_monolith_worker(self, role: str, events: str) -> None:
        command = {"relay": "events_relay", "consumer": "events_consume"}[role]
        self.supervisor.add(Process(f"monolith-{role}", (sys.executable, "manage.py", command), MONOLITH_DIR,
                                    self.monolith_env(events)))

    def manage_monolith(self, *arguments: str, events: str = "publish") -> None:
        self.supervisor.run_together([Process(f"monolith-{arguments[0]}", (sys.executable, "manage.py", *arguments),
                                              MONOLITH_DIR, self.monolith_env(events))])

    # The seams' services

    def start_services(self, *names: str) -> None:
        """Seams' services as production runs them (each its web process, one relay, one consumer), believing and
        keeping the monolith's events (MIGRATING_FROM); migrated and started side by side."""
        plans = [fleet_plan.plan(SERVICES[name], port=self.port(name), env=self.env(
            DJANGO_SETTINGS_MODULE="config.settings.prod", DATABASE_URL=database_url(DATABASES[name]),
            MIGRATING_FROM="monolith")) for name in names]
        self.supervisor.run_together([plan.migrate for plan in plans])
        for plan in plans:
            for process in (plan.web, *plan.relays, *plan.consumers):
                self.supervisor.add(process)
        for name in names:
            self.supervisor.wait_for(f"{self.url(name)}/healthz")

    # The gateway

    def route(self, changes: Mapping[str, str]) -> None:
        """The gateway's upstreams changed: rendered again from the routing table and reloaded (SIGHUP: nginx's
        new workers take new connections, the old ones finish theirs), or started the first time."""
        sys.path.insert(0, str(ROOT / "gateway"))
        from gateway import nginx
        from gateway.table import load as load_table

        self.routes.update(changes)
        services: list[Service] = [SERVICES[name] for name in self.routes]
        upstreams = {service.url_env: self.routes[service.name] for service in services}
        table = load_table(environ={**os.environ, **upstreams}).without_limits()
        folder = WORK / "gateway"
        folder.mkdir(parents=True, exist_ok=True)
        config = nginx.render(table, listen=f"127.0.0.1:{self.port_base}", access_log=str(folder / "access.log"))
        (folder / "nginx.conf").write_text(nginx.render_main(config))
        try:
            program = self.supervisor.program("gateway")
        except StopIteration:
            command = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(folder), "-c",
                       str(folder / "nginx.conf"), "-e", "stderr"]
            if os.geteuid() == 0:
                command += ["-g", "user root;"]
            self.supervisor.add(Process("gateway", tuple(command), folder))
            self.supervisor.wait_until(lambda: answers(f"{self.gateway}/healthz"), "the gateway did not answer", 60)
            return
        assert program.popen is not None
        os.kill(program.popen.pid, signal.SIGHUP)
        time.sleep(1)  # the new workers are up within this on any machine; the old ones drain meanwhile


def count_votes(database: str) -> dict[str, int]:
    """What one side counts: its vote rows, its voters (one per poll), its tallies' sum, and (the monolith) its
    polls' total_votes."""
    with psycopg.connect(database_url(database), autocommit=True) as connection:
        rows, voters = connection.execute(
            "SELECT count(*), count(DISTINCT (poll_id, voter_id)) FROM votes_vote").fetchone() or (0, 0)
        tallied = connection.execute("SELECT coalesce(sum(votes), 0) FROM votes_choice_tally").fetchone()
        counts = {"rows": rows, "voters": voters, "tallied": int(tallied[0]) if tallied else 0}
        if database == MONOLITH_DATABASE:
            totals = connection.execute("SELECT coalesce(sum(total_votes), 0) FROM polls_poll").fetchone()
            counts["poll_totals"] = int(totals[0]) if totals else 0
        return counts


def results_by_poll(database: str) -> dict[str, dict[str, int]]:
    """Each poll's votes per choice, from one side's tallies."""
    with psycopg.connect(database_url(database), autocommit=True) as connection:
        rows = connection.execute("SELECT poll_id::text, choice_id::text, sum(votes) FROM votes_choice_tally "
                                  "GROUP BY 1, 2").fetchall()
    results: dict[str, dict[str, int]] = {}
    for poll_id, choice_id, votes in rows:
        if votes:
            results.setdefault(poll_id, {})[choice_id] = int(votes)
    return results


def rows_by_poll(database: str, table: str) -> dict[str, set[str]]:
    """One side's choices (``choices_choice``) or polls (``polls_poll``, each its own "poll"), by poll: the
    shadow check compares them with the monolith's."""
    column = "id" if table == "polls_poll" else "poll_id"
    with psycopg.connect(database_url(database), autocommit=True) as connection:
        rows = connection.execute(f"SELECT {column}::text, id::text FROM {table}").fetchall()
    held: dict[str, set[str]] = {}
    for poll_id, row_id in rows:
        held.setdefault(poll_id, set()).add(row_id)
    return held


def held(database: str, table: str, ids: set[str], text_column: str, texts: set[str]) -> tuple[int, int]:
    """Of the rows the clients were answered 201 for: how many one side holds (by id), and how many extra rows
    carry their texts (each is unique: one created twice)."""
    with psycopg.connect(database_url(database), autocommit=True) as connection:
        found = connection.execute(f"SELECT count(*) FROM {table} WHERE id::text = ANY(%s)",
                                   [list(ids)]).fetchone()
        rows = connection.execute(f"SELECT count(*) FROM {table} WHERE {text_column} = ANY(%s)",
                                  [list(texts)]).fetchone()
    return (found[0] if found else 0), (rows[0] if rows else 0) - len(texts)


def dead_letters(database: str) -> list[str]:
    """The reasons of the dead letters one service's consumer recorded (django-events' table), whatever became of
    them."""
    with psycopg.connect(database_url(database), autocommit=True) as connection:
        return [reason for (reason,) in connection.execute("SELECT reason FROM django_events_dead_letter").fetchall()]


def polls_service_totals() -> dict[str, int]:
    """polls-service's total_votes, by poll (its tally of vote-service's vote.cast)."""
    with psycopg.connect(database_url(POLLS_DATABASE), autocommit=True) as connection:
        rows = connection.execute("SELECT poll_id::text, total_votes FROM polls_poll_tally WHERE total_votes > 0")
        return {poll_id: int(total) for poll_id, total in rows.fetchall()}
