"""The vote path of a viral poll, as production runs it, beside a monolith doing the same work.

    eval "$(bash infra/infra.sh up)" && .venv/bin/python bench/votes_bench.py [--levels 8,32,64] [--profile]

Starts, on the PostgreSQL of $DATABASE_URL (it drops and recreates the services' databases and `bench_monolith`)
and the Kafka of $KAFKA_BOOTSTRAP_SERVERS (topics and consumer groups under a prefix of its own):
  - the four services with production settings (config.settings.prod), each web process as the image runs it
    (uvicorn on config.asgi) with as many processes as its Helm chart's replicas, and each relay and consumer;
  - the real nginx gateway rendered from gateway/routes.toml; the one change is that its per-IP limits are
    left out, as every voter here comes from 127.0.0.1 (the services' own throttles are lifted the same way);
  - the monolith (monolith/): polls, choices and votes in one Django project and one database, same validation
    and writes, no events (MONOLITH_EVENTS off), as many processes as vote-service, behind a second nginx
    rendered from the same table.
Voters are users of auth-service (rows in its database) holding access tokens signed with auth-service's key,
as it signs them. wrk (bench/votes.lua) drives the closed loops, vegeta (bench/vegeta.py) the open one. Phases
(`--phases` picks some; they run in this order):
  viral      a fresh poll with 4 choices per run, every vote from another voter; closed loop at each
             concurrency level, services and monolith alternating, `--rounds` times.
  open-loop  POST /api/votes/ offered at a constant rate of 0.5x, 1x, 1.5x and 2x the capacity (the viral phase's
             best votes/s, else a closed loop of its own), then 1x again: what is accepted, how fast, what is refused.
  reads      GET results and GET poll while a poll holds 1k, 100k and 1M votes (bulk-loaded in SQL); then a storm
             of results reads through the gateway's cache beside the same nginx serving a file of the same size.
  freshness  under the load of the viral phase, a probe votes on a poll of its own and times each vote's 201 to its
             count in results and in the poll's total_votes.
  live       watchers of a poll's live results while votes flow (bench/live_bench.py)
  batch      the vote path as it was, with the group commit (VOTES_BATCH), with the caller's rate limits in one
             statement (RATE_LIMITS_TOGETHER), with both, and the monolith, `--rounds` times in that order, at each
             of `--batch-levels` (vote-service restarted for each row).
  tracing    votes with tracing off, sampled at 10% and at 100% (the vote path's processes restarted for each).
Writes bench/results/votes.json and PNG plots beside it, and prints a table.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import jwt
import psycopg
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # the platform's tooling (fleet/)

import vegeta  # noqa: E402
from live_bench import live_watchers_phase  # noqa: E402

from fleet import Service, load  # noqa: E402
from fleet import plan as fleet_plan  # noqa: E402
from fleet.plan import Process  # noqa: E402
from fleet.supervisor import Supervisor, answers  # noqa: E402

RESULTS = BENCH / "results"
WORK = ROOT / ".cache" / "bench-votes"
STATIC = WORK / "static"
STATIC_PORT_OFFSET = 11  # from --port-base: the gateway's nginx serving a file from disk
SERVICES = load()  # the platform's one list
SERVICES_BY_NAME = {service.name: service for service in SERVICES}
SERVICE_DATABASES = {service.name: service.database for service in SERVICES}
MONOLITH_DATABASE = "bench_monolith"
CHOICES_PER_POLL = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WRK_THREADS = 2
LIVE_PROBE_EVERY = 0.25  # seconds between the live phase's probe votes
LIVE_OPENING_SECONDS = 60  # the most the live phase's watchers take to connect, votes flowing meanwhile
P99_TARGET_MS = 100  # the vote's p99 the headline throughput must keep (issue 10's target)
ISSUER, AUDIENCE = "polls-auth", "polls-platform"
# The services' throttles, lifted for the benchmark only: every voter shares one client address here. A rate
# per second that no client reaches, not per day: DRF's throttle keeps each client's request times over the
# window and pickles them on every request, and the readers' one address would hold a day's worth, costing
# each read more the longer the bench runs (a real reader's history holds its own requests only).
LIFTED_THROTTLES = ",".join(
    f"{scope}=1000000/s" for scope in ("burst", "sustained", "scoped", "votes", "auth_register", "auth_token")
)


def log(message: str) -> None:
    print(f"bench | {message}", flush=True)


# ---------------------------------------------------------------------------------------------- processes


def cpu_seconds(supervisor: Supervisor) -> dict[str, float]:
    """CPU time used so far by each started process and its children (each leads its own process group), by the
    PostgreSQL, Kafka and Zipkin servers the bench uses, and by the whole machine. A shared machine runs other
    clusters and brokers too: only the postmaster of $DATABASE_URL and its backends count, and the Java servers
    started from this tree (infra/infra.sh's, under .cache/), else every one."""
    names = supervisor.pids()
    used = dict.fromkeys([*names.values(), "postgresql", "kafka", "zipkin"], 0.0)
    postmaster, ours = our_postmaster(), our_java()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            command, fields = stat.read_text().rsplit(")", 1)
            fields = fields.split()
            number, parent = int(stat.parent.name), int(fields[1])
            name = {"(postgres": "postgresql", "(java": "java"}.get(command.split(" ", 1)[1], names.get(int(fields[2])))
            if name == "postgresql" and postmaster not in (number, parent):
                continue
            if name == "java":
                if ours and number not in ours:
                    continue
                name = "zipkin" if b"zipkin" in (stat.parent / "cmdline").read_bytes() else "kafka"
            if name is not None:
                used[name] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    used["machine"] = (sum(int(v) for v in cpu[:8]) - int(cpu[3]) - int(cpu[4])) / CLOCK_TICKS  # less idle, iowait
    return used


@functools.cache
def our_postmaster() -> int:
    """The PostgreSQL server of $DATABASE_URL: the parent of a backend of it."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


@functools.cache
def our_java() -> frozenset[int]:
    """The Java servers (Kafka, Zipkin) whose command line names this tree; none: count every Java process."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            words = cmdline.read_bytes()
            if words.startswith(b"java") and str(ROOT / ".cache").encode() in words:
                found.add(int(cmdline.parent.name))
    return frozenset(found)


def pid(supervisor: Supervisor, name: str) -> int:
    popen = supervisor.program(name).popen
    assert popen is not None
    return popen.pid


def chart_counts(service: Service) -> dict[str, int]:
    """Web processes, relays and consumers as the service's Helm chart runs them (its minimum when autoscaled)."""
    helm = ROOT / "deploy" / "helm"
    # A service chart's values.yaml holds only what differs from the library chart's exported defaults.
    defaults = yaml.safe_load((helm / "service-common" / "values.yaml").read_text())["exports"]["defaults"]
    own = yaml.safe_load((service.chart / "values.yaml").read_text()) or {}
    values = {key: {**value, **own.get(key, {})} if isinstance(value, dict) else own.get(key, value)
              for key, value in defaults.items()}
    autoscaling = values["autoscaling"]
    web = autoscaling["minReplicas"] if autoscaling.get("enabled") else values["web"]["replicaCount"]
    return {
        "web": int(web),
        "relay": int(values["relay"]["replicaCount"]) if values["relay"]["enabled"] else 0,
        "consumer": int(values["consumer"]["replicaCount"]) if values["consumer"]["enabled"] else 0,
    }


def database_url(name: str) -> str:
    return urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def recreate_databases() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        for name in [*(service.database for service in SERVICES), MONOLITH_DATABASE]:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')


def wait_healthy(url: str, supervisor: Supervisor, timeout: float = 120) -> None:
    supervisor.wait_until(lambda: answers(url), f"{url} did not answer", timeout)


def gateway_table(upstreams: dict[str, str] | None = None) -> Any:
    """The gateway's table (gateway/routes.toml and its environment overrides), with ``upstreams``' addresses."""
    sys.path.insert(0, str(ROOT / "gateway"))
    from gateway.table import load

    return load(environ={**os.environ, **(upstreams or {})})


def start_nginx(supervisor: Supervisor, name: str, port: int, upstreams: dict[str, str], *,
                sample_ratio: float | None = None, static_port: int | None = None) -> str:
    """nginx rendered from the routing table, without its per-client limits; with ``static_port``, a second server
    in the same nginx serving WORK/static from disk (the read storm's ceiling)."""
    table = gateway_table(upstreams).without_limits()
    from gateway import nginx  # on the path since gateway_table()

    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    config = nginx.render(table, listen=f"127.0.0.1:{port}", access_log=str(folder / "access.log"),
                          sample_ratio=sample_ratio)
    if static_port is not None:
        STATIC.mkdir(parents=True, exist_ok=True)
        # Logged like the gateway's requests, so that the ceiling does the same work per request but the proxying.
        config += (f"server {{ listen 127.0.0.1:{static_port}; access_log {folder / 'static-access.log'} gateway_json; "
                   f"location / {{ root {STATIC}; }} }}\n")
    (folder / "nginx.conf").write_text(nginx.render_main(config))
    supervisor.add(Process(name, tuple(nginx.command(folder, shutil.which("nginx") or "/usr/sbin/nginx")), folder))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/healthz", supervisor)
    return url


@dataclass
class Platform:
    gateway: str
    monolith: str
    private_key: rsa.RSAPrivateKey
    vote_web_pid: int
    static: str  # the gateway's nginx serving files from disk
    # What a restart with other settings needs (the tracing phase): each service's long-running processes, their
    # ports and the gateway's.
    processes: dict[str, list[Process]]
    ports: dict[Service, int]
    gateway_port: int

    def restart(self, supervisor: Supervisor, services: list[str], env: dict[str, str],
                sample_ratio: float | None) -> None:
        """The processes of ``services`` again with ``env`` added, and the gateway with ``sample_ratio``."""
        for service in services:
            for process in self.processes[service]:
                supervisor.retire(process.name)
                supervisor.add(process.with_env(env))
        for service in services:
            wait_healthy(f"http://127.0.0.1:{self.ports[SERVICES_BY_NAME[service]]}/healthz", supervisor)
        supervisor.retire("gateway")
        start_nginx(supervisor, "gateway", self.gateway_port, fleet_plan.upstreams(self.ports.items()),
                    sample_ratio=sample_ratio, static_port=self.gateway_port + STATIC_PORT_OFFSET)


def start_platform(supervisor: Supervisor, port_base: int, prefix: str) -> Platform:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = WORK / "jwt-private.pem"
    key_file.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    common = {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "KAFKA_TOPIC_PREFIX": prefix,
        "JWT_PUBLIC_KEYS": public_pem.decode(),
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "THROTTLE_RATES": LIFTED_THROTTLES,
        "LOG_LEVEL": "WARNING",
        # An admitted request waits for a thread at most this long (service_kit.asgi): the open loop past capacity
        # measures what the processes accept, not how long a queue grows.
        "WEB_QUEUE_SECONDS": "0.1",
        # The live phase's watchers, spread over vote-service's two web processes unevenly by the kernel.
        "WEB_STREAMS": "3000",
    }
    ports = {service: port_base + 1 + index for index, service in enumerate(SERVICES)}
    processes: dict[str, list[Process]] = {}
    for service in SERVICES:
        env = {**common, "DATABASE_URL": database_url(service.database)}
        if service.name == "auth":
            env["JWT_PRIVATE_KEY_FILE"] = str(key_file)
        counts = chart_counts(service)
        plan = fleet_plan.plan(service, port=ports[service], env=env, workers=counts["web"], forwarded_allow_ips="*",
                               relays=counts["relay"], consumers=counts["consumer"], numbered=True)
        supervisor.run_together([plan.migrate])
        log(f"{service.service_name} on :{ports[service]}: {counts['web']} web processes, {counts['relay']} relay, "
            f"{counts['consumer']} consumer")
        processes[service.name] = [plan.web, *plan.relays, *plan.consumers]
        for process in processes[service.name]:
            supervisor.add(process)
    for port in ports.values():
        wait_healthy(f"http://127.0.0.1:{port}/healthz", supervisor)
    gateway = start_nginx(supervisor, "gateway", port_base, fleet_plan.upstreams(ports.items()),
                          static_port=port_base + STATIC_PORT_OFFSET)

    monolith_port = port_base + 5
    monolith_dir = ROOT / "monolith"
    monolith_env = {**common, "DJANGO_SETTINGS_MODULE": "monolith.settings",
                    "DATABASE_URL": database_url(MONOLITH_DATABASE)}
    supervisor.run_together([Process("monolith-migrate", (sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"),
                                     monolith_dir, monolith_env)])
    supervisor.add(Process("monolith-web", (
        sys.executable, "-m", "uvicorn", "monolith.asgi:application", "--host", "127.0.0.1", "--port", str(monolith_port),
        "--workers", str(chart_counts(SERVICES_BY_NAME["vote"])["web"]), "--no-access-log", "--forwarded-allow-ips", "*",
    ), monolith_dir, monolith_env))
    wait_healthy(f"http://127.0.0.1:{monolith_port}/healthz", supervisor)
    monolith = start_nginx(supervisor, "monolith-gateway", port_base + 10,
                           fleet_plan.upstreams((service, monolith_port) for service in SERVICES))
    return Platform(gateway, monolith, private_key, pid(supervisor, "vote-web"),
                    f"http://127.0.0.1:{port_base + STATIC_PORT_OFFSET}", processes, ports, port_base)


# ------------------------------------------------------------------------------------------- voters and data


def _mint(args: tuple[bytes, str, list[str], int]) -> list[str]:
    pem, kid, user_ids, lifetime = args
    key = serialization.load_pem_private_key(pem, password=None)
    now = datetime.now(UTC)
    return [
        jwt.encode({"token_type": "access", "exp": now + timedelta(seconds=lifetime), "iat": now,
                    "jti": uuid.uuid4().hex, "user_id": user_id, "aud": AUDIENCE, "iss": ISSUER},
                   key, algorithm="RS256", headers={"kid": kid})
        for user_id in user_ids
    ]


def make_voters(platform: Platform, count: int, lifetime: int) -> list[str]:
    """`count` users in auth-service's database, and an access token for each, as auth-service signs them."""
    with psycopg.connect(database_url(SERVICE_DATABASES["auth"]), autocommit=True) as connection:
        rows = connection.execute(
            "INSERT INTO users_user (id, password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined) SELECT gen_random_uuid(), '!', false, 'voter-' || i, '', '', '', "
            "false, true, now() FROM generate_series(1, %s) i RETURNING id", [count]).fetchall()
    user_ids = [str(row[0]) for row in rows]
    # What each service's projection of user.registered would hold: the services refuse unknown users' tokens. The
    # monolith checks a token's signature, issuer and audience only (monolith/README.md): one query a request fewer.
    for database in [service.database for service in SERVICES if service.name != "auth"]:
        with psycopg.connect(database_url(database), autocommit=True) as connection:
            connection.execute("INSERT INTO service_kit_known_user (id, username, deleted) "
                               "SELECT unnest(%s::text[]), '', false", [user_ids])
    from service_kit.jwks import jwk_thumbprint

    kid = jwk_thumbprint(platform.private_key.public_key())
    pem = platform.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
    chunks = [user_ids[i:i + 1000] for i in range(0, len(user_ids), 1000)]
    with multiprocessing.Pool(2) as pool:
        return [token for part in pool.map(_mint, [(pem, kid, chunk, lifetime) for chunk in chunks]) for token in part]


class Owner:
    """A user registered and logged in through the gateway; logs in again before auth-service's 5-minute
    access token runs out, as a client would refresh it."""

    def __init__(self, platform: Platform) -> None:
        self.url = platform.gateway
        self.credentials = {"username": f"owner-{uuid.uuid4().hex[:8]}", "password": "a-long-password-42"}
        httpx.post(f"{self.url}/api/auth/register/", json=self.credentials, timeout=30).raise_for_status()
        self.token, self.logged_in = "", 0.0

    @property
    def headers(self) -> dict[str, str]:
        if time.monotonic() - self.logged_in > 120:
            answer = httpx.post(f"{self.url}/api/auth/token/", json=self.credentials, timeout=30)
            self.token, self.logged_in = answer.raise_for_status().json()["access"], time.monotonic()
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Poll:
    id: str
    choice_ids: list[str]


@dataclass
class Run:
    """What every phase works with: the options, the started platform, the poll owner and the voters."""

    args: argparse.Namespace
    platform: Platform
    owner: Owner
    client: httpx.Client  # to the gateway
    supervisor: Supervisor
    tokens: list[str]
    tokens_file: Path  # the first --voters tokens, one a line, for wrk

    def voters(self, count: int) -> list[str]:
        """``count`` voters' tokens, more minted when the run's are too few (each voter votes once per poll)."""
        if count > len(self.tokens):
            self.tokens += make_voters(self.platform, count - len(self.tokens), lifetime=3600)
        return self.tokens[:count]


def create_poll(client: httpx.Client, owner: Owner) -> Poll:
    """Through the gateway as a client would: the poll, then its choices, then until vote-service knows them."""
    headers = owner.headers
    poll = client.post("/api/polls/", json={"question": "Viral?"}, headers=headers).raise_for_status().json()
    choice_ids = []
    for index in range(CHOICES_PER_POLL):
        response = client.post("/api/choices/", json={"poll_id": poll["id"], "text": f"choice {index}"},
                               headers=headers)
        choice_ids.append(response.raise_for_status().json()["id"])
    deadline = time.monotonic() + 30
    while True:
        results = client.get(f"/api/votes/results/{poll['id']}/")
        if results.status_code == 200 and len(results.json()["choices"]) == CHOICES_PER_POLL:
            return Poll(poll["id"], choice_ids)
        if time.monotonic() > deadline:
            raise SystemExit(f"vote-service did not learn of poll {poll['id']} in 30 s")
        time.sleep(0.05)


def create_monolith_poll() -> Poll:
    poll_id, choice_ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(CHOICES_PER_POLL)]
    with psycopg.connect(database_url(MONOLITH_DATABASE), autocommit=True) as connection:
        connection.execute("INSERT INTO polls_poll (id, question, owner_id, status, created_at, total_votes) "
                           "VALUES (%s, 'Viral?', 'owner', 'open', now(), 0)", [poll_id])
        for position, choice_id in enumerate(choice_ids, 1):
            connection.execute("INSERT INTO choices_choice (id, poll_id, text, position) VALUES (%s, %s, %s, %s)",
                               [choice_id, poll_id, f"choice {position}", position])
    return Poll(poll_id, choice_ids)


def bulk_load(poll: Poll, votes: int) -> None:
    """`votes` votes on `poll` straight into vote-service's tables, and polls-service's tally to match."""
    with psycopg.connect(database_url(SERVICE_DATABASES["vote"]), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO votes_vote (id, poll_id, choice_id, voter_id, created_at) "
            "SELECT gen_random_uuid(), %s, (%s::uuid[])[1 + i %% %s], 'bulk-' || i, now() "
            "FROM generate_series(1, %s) i", [poll.id, poll.choice_ids, len(poll.choice_ids), votes])
        connection.execute(
            "INSERT INTO votes_choice_tally (poll_id, choice_id, shard, votes) "
            "SELECT poll_id, choice_id, 0, count(*) FROM votes_vote WHERE poll_id = %s GROUP BY 1, 2 "
            "ON CONFLICT (poll_id, choice_id, shard) DO UPDATE SET votes = votes_choice_tally.votes + excluded.votes",
            [poll.id])
        # Now rather than by autovacuum during the read storm, which would then measure the vacuum's CPU; and the
        # load's dirty pages written now, not by a checkpoint in the middle of the reads.
        connection.execute("VACUUM (ANALYZE) votes_vote")
        connection.execute("CHECKPOINT")
    with psycopg.connect(database_url(SERVICE_DATABASES["polls"]), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO polls_poll_tally (poll_id, total_votes) VALUES (%s, %s) ON CONFLICT (poll_id) "
            "DO UPDATE SET total_votes = polls_poll_tally.total_votes + excluded.total_votes", [poll.id, votes])


def stored_votes(poll: Poll) -> int:
    with psycopg.connect(database_url(SERVICE_DATABASES["vote"])) as connection:
        return connection.execute("SELECT count(*) FROM votes_vote WHERE poll_id = %s", [poll.id]).fetchone()[0]


def commits(database: str) -> int:
    """Transactions committed in ``database`` so far, as PostgreSQL counts them (each backend reports its own
    at most once a second, and at once when it goes idle)."""
    with psycopg.connect(database_url(database)) as connection:
        connection.execute("SELECT pg_stat_force_next_flush()")
        return int(connection.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                                      [database]).fetchone()[0])


def settled_totals(client: httpx.Client, poll: Poll, timeout: float = 120) -> dict[str, int]:
    """The stored votes (the truth: wrk leaves out answers still in flight when it stops, and the services may
    still be committing them) beside results' total and total_votes, once all three agree or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        accepted = stored_votes(poll)
        results_total, total_votes = poll_totals(client, poll.id)
        if accepted == results_total == total_votes or time.monotonic() > deadline:
            return {"accepted": accepted, "results_total": results_total, "total_votes": total_votes}
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------------- load


def wrk(url: str, *, connections: int, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(max(connections, WRK_THREADS)), "-d", f"{round(seconds)}s",
               "--timeout", "10s", "-s", str(BENCH / "votes.lua"), url]
    done = subprocess.run(command, env={**os.environ, "BENCH_THREADS": str(WRK_THREADS), **env},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    out = done.stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    seconds_run = result["duration_us"] / 1e6
    result["statuses"] = {int(status): count for status, count in result["statuses"].items()}
    result["per_s"] = result["requests"] / seconds_run
    result["accepted_per_s"] = result["statuses"].get(201, 0) / seconds_run
    result["non_201"] = sum(c for s, c in result["statuses"].items() if s != 201) + result["socket_errors"]
    # The machine is shared: each figure goes with the load average (1 min) it was measured at.
    result["load_average"] = round(os.getloadavg()[0], 1)
    return result


def vote_load(url: str, poll: Poll, tokens_file: Path, connections: int, seconds: float) -> dict[str, Any]:
    return wrk(url, connections=connections, seconds=seconds, env={
        "BENCH_MODE": "vote", "BENCH_TOKENS": str(tokens_file), "BENCH_POLL_ID": poll.id,
        "BENCH_CHOICE_IDS": ",".join(poll.choice_ids)})


def read_load(url: str, path: str, connections: int, seconds: float, rate: float | None = None) -> dict[str, Any]:
    """A closed loop (as fast as answers come), or about ``rate`` reads/s: each connection pauses before each read
    (wrk's delay()), so the latency is the read's own and not the queue of a saturated machine."""
    paced = {"BENCH_DELAY_MS": str(round(connections * 1000 / rate))} if rate else {}
    return wrk(url, connections=connections, seconds=seconds, env={"BENCH_MODE": "read", "BENCH_PATH": path, **paced})


def poll_totals(client: httpx.Client, poll_id: str) -> tuple[int, int]:
    results = client.get(f"/api/votes/results/{poll_id}/").raise_for_status().json()["total"]
    return results, client.get(f"/api/polls/{poll_id}/").raise_for_status().json()["total_votes"]


def wait_totals(client: httpx.Client, poll_id: str, expected: int, timeout: float = 60) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        totals = poll_totals(client, poll_id)
        if totals == (expected, expected) or time.monotonic() > deadline:
            return totals
        time.sleep(0.2)


def profile(pid: int, seconds: float, out: Path, *, wall: bool = False) -> subprocess.Popen[bytes] | None:
    """py-spy on a process and its children: the samples holding the GIL (where CPU goes), or with ``wall`` every
    sample, waits included (where a worker's time goes)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log("py-spy not installed (pip install py-spy): no profile")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--duration", str(int(seconds)),
                             "--rate", "100", "--idle" if wall else "--gil", "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def freshness_probe(client: httpx.Client, poll: Poll, tokens: list[str], stop: threading.Event) -> dict[str, list[float]]:
    """Votes one at a time on a poll of its own; after each 201, reads as the voter until the vote is counted (a
    signed-in read bypasses the gateway's cache, which anyone else's read may find a second old)."""
    lags: dict[str, list[float]] = {"results": [], "total_votes": []}
    for number, token in enumerate(tokens, 1):
        if stop.is_set():
            break
        voter = {"Authorization": f"Bearer {token}"}
        vote = client.post("/api/votes/", json={"poll_id": poll.id, "choice_id": poll.choice_ids[0]}, headers=voter)
        if vote.status_code != 201:
            continue
        accepted = time.perf_counter()
        pending = {"results": f"/api/votes/results/{poll.id}/", "total_votes": f"/api/polls/{poll.id}/"}
        while pending:
            for name, path in list(pending.items()):
                body = client.get(path, headers=voter).json()
                if body.get("total", body.get("total_votes", 0)) >= number:
                    lags[name].append((time.perf_counter() - accepted) * 1000)
                    del pending[name]
            if time.perf_counter() - accepted > 30:
                break
            time.sleep(0.002)
        time.sleep(0.05)
    return lags


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# ---------------------------------------------------------------------------------------------- phases


def cpu_per_vote(before: dict[str, float], after: dict[str, float], result: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per accepted vote, by kind of process: robust where throughput is not, on a shared box."""
    accepted = max(result["statuses"].get(201, 0), 1)
    kinds: dict[str, float] = {}
    for name in after:
        kind = ("vote-web" if name == "vote-web" else "other web" if name.endswith("-web") and
                not name.startswith("monolith") else "monolith-web" if name == "monolith-web" else
                "nginx" if name.endswith("gateway") else name if name in ("postgresql", "kafka", "zipkin", "machine") else
                "relays and consumers")
        kinds[kind] = kinds.get(kind, 0.0) + (after[name] - before.get(name, 0.0)) * 1000 / accepted
    return {kind: round(ms, 2) for kind, ms in kinds.items()}


def warm_up(platform: Platform, owner: Owner, tokens_file: Path, client: httpx.Client) -> None:
    """Every web process imports its views and fills its pool on its first requests: not part of any figure."""
    for url, poll in ((platform.gateway, create_poll(client, owner)), (platform.monolith, create_monolith_poll())):
        vote_load(url, poll, tokens_file, 16, 3)
        read_load(url, f"/api/votes/results/{poll.id}/", 16, 2)
        read_load(url, f"/api/polls/{poll.id}/", 16, 2)
    log("warmed up")


def phase_viral(args: argparse.Namespace, platform: Platform, owner: Owner, tokens_file: Path,
                client: httpx.Client, supervisor: Supervisor) -> dict[str, Any]:
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {"services": {}, "monolith": {}}
    consistency = []
    for round_number in range(args.rounds):
        for level in args.levels:
            for kind in ("services", "monolith"):
                poll = create_poll(client, owner) if kind == "services" else create_monolith_poll()
                url = platform.gateway if kind == "services" else platform.monolith
                spies = []
                if args.profile and kind == "services" and level == max(args.levels) and round_number == 0:
                    spies = [profile(platform.vote_web_pid, args.seconds, RESULTS / "vote-web-profile.txt"),
                             *(profile(pid(supervisor, name), args.seconds, RESULTS / f"{name}-profile.txt", wall=True)
                               for name in ("vote-relay-0", "polls-consumer-0"))]
                cpu_before = cpu_seconds(supervisor)
                result = vote_load(url, poll, tokens_file, level, args.seconds)
                result["cpu_ms_per_vote"] = cpu_per_vote(cpu_before, cpu_seconds(supervisor), result)
                for spy in spies:
                    if spy is not None:
                        spy.wait()
                runs[kind].setdefault(level, []).append(result)
                log(f"phase 1 round {round_number + 1} {kind:>8} c={level:<3} {result['accepted_per_s']:7.0f} votes/s "
                    f"p50 {result['p50_ms']:6.1f} p99 {result['p99_ms']:6.1f} ms  statuses {result['statuses']}  "
                    f"load {result['load_average']}  "
                    f"CPU ms/vote {result['cpu_ms_per_vote']}")
                if kind == "services":
                    consistency.append(settled_totals(client, poll))
    return {"runs": runs, "consistency": consistency}


def web_cpu_ms_per_request(supervisor: Supervisor, name: str, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``read()``'s wrk result with the CPU milliseconds the web processes of ``name`` spent per request: what a
    read costs, whatever share of the machine the neighbours leave it."""
    before, started = cpu_seconds(supervisor), time.monotonic()
    result = read()
    after = cpu_seconds(supervisor)
    result["web_cpu_ms_per_request"] = round((after[name] - before[name]) * 1000 / max(result["requests"], 1), 3)
    # How busy the whole machine was meanwhile: a paced read's latency is its own only on a machine not full.
    busy = (after["machine"] - before["machine"]) / ((time.monotonic() - started) * (os.cpu_count() or 1))
    result["machine_busy_percent"] = round(100 * busy)
    return result


def phase_reads(run: Run) -> dict[str, Any]:
    """At each poll size, each read twice: at a fixed rate (``--read-rate``), for its latency, then as a storm
    (closed loop at ``--read-connections``), for the reads/s the platform holds and the latency of its queue; then
    the cached storm beside its ceiling (phase_cached_reads)."""
    args, reads = run.args, dict[str, Any]()
    for size in args.sizes:
        poll = create_poll(run.client, run.owner)
        started = time.monotonic()
        bulk_load(poll, size)
        log(f"phase 2: {size:,} votes loaded in {time.monotonic() - started:.1f} s")
        totals = wait_totals(run.client, poll.id, size, timeout=5)
        assert totals == (size, size), f"after the bulk load the totals read {totals}"
        reads[str(size)] = {}
        for endpoint, path, web in (("results", f"/api/votes/results/{poll.id}/", "vote-web"),
                                    ("poll", f"/api/polls/{poll.id}/", "polls-web")):
            for mode, rate in (("paced", args.read_rate), ("storm", None)):
                result = web_cpu_ms_per_request(run.supervisor, web, lambda: read_load(
                    run.platform.gateway, path, args.read_connections, args.seconds, rate))
                reads[str(size)][endpoint if mode == "paced" else f"{endpoint}_storm"] = result
                log(f"phase 2 {size:>9,} votes: GET {endpoint:<7} {mode:<5} {result['per_s']:5.0f}/s "
                    f"p50 {result['p50_ms']:6.1f} p99 {result['p99_ms']:6.1f} ms; "
                    f"web CPU ms per read {result['web_cpu_ms_per_request']}; machine {result['machine_busy_percent']}% busy")
        reads[str(size)]["cached"] = phase_cached_reads(run, poll, size)
    return reads


def phase_freshness(args: argparse.Namespace, platform: Platform, owner: Owner, tokens_file: Path,
                    probe_tokens: list[str], client: httpx.Client, level: int) -> dict[str, Any]:
    load_poll, probe_poll = create_poll(client, owner), create_poll(client, owner)
    stop = threading.Event()
    found: dict[str, Any] = {}

    def load() -> None:
        found["load"] = vote_load(platform.gateway, load_poll, tokens_file, level, args.freshness_seconds)
        stop.set()

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(0.5)
    with httpx.Client(base_url=platform.gateway, timeout=30) as probe_client:
        lags = freshness_probe(probe_client, probe_poll, probe_tokens, stop)
    loader.join()
    summary = {name: {"samples": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99),
                      "max_ms": max(v, default=float("nan"))} for name, v in lags.items()}
    log(f"phase 3 at c={level} ({found['load']['accepted_per_s']:.0f} votes/s, load {found['load']['load_average']}): "
        + "; ".join(f"{k} p50 {v['p50_ms']:.1f} p99 {v['p99_ms']:.1f} ms ({v['samples']} votes)"
                    for k, v in summary.items()))
    stages = pipeline_stages([load_poll.id, probe_poll.id])
    log("phase 3 stages of vote.cast to polls-service: " + "; ".join(
        f"{name} p50 {v['p50_ms']:.1f} p99 {v['p99_ms']:.1f} ms" for name, v in stages.items()))
    return {"level": level, "load": found["load"], **summary, "stages": stages}


def pipeline_stages(poll_ids: list[str]) -> dict[str, dict[str, float]]:
    """Where total_votes' lag goes, from the rows' own timestamps (one clock: one machine): the outbox row's
    creation (in the vote's transaction) to the relay's marking it sent (after the broker's ack), and that to
    polls-service's consumer applying it (the inbox row, written before the batch commits)."""
    with psycopg.connect(database_url(SERVICE_DATABASES["vote"])) as connection:
        outbox = {row[0]: (row[1], row[2]) for row in connection.execute(
            "SELECT event_id, created_at, sent_at FROM django_events_outbox WHERE event_type = 'vote.cast' "
            "AND key = ANY(%s) AND sent_at IS NOT NULL", [poll_ids])}
    with psycopg.connect(database_url(SERVICE_DATABASES["polls"])) as connection:
        applied = dict(connection.execute("SELECT event_id, processed_at FROM django_events_inbox "
                                          "WHERE event_id = ANY(%s)", [list(outbox)]).fetchall())
    lags: dict[str, list[float]] = {"relay": [], "consumer": []}
    for event_id, (created, sent) in outbox.items():
        if event_id in applied:
            lags["relay"].append((sent - created).total_seconds() * 1000)
            lags["consumer"].append((applied[event_id] - sent).total_seconds() * 1000)
    return {name: {"samples": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99)}
            for name, v in lags.items()}


# ------------------------------------------------------------------------------------ open loop, past capacity

# Rates offered, as shares of the capacity; the second 1x starts as the 2x ends: how soon the platform recovers.
OPEN_LOOP_SHARES = (0.5, 1.0, 1.5, 2.0, 1.0)
REFUSALS = (429, 503)


def vote_targets(url: str, poll: Poll, tokens: list[str]) -> Iterator[vegeta.Target]:
    """POST /api/votes/ as votes.lua sends them: each from the next voter, on the poll's choices in turn."""
    for number, token in enumerate(tokens):
        body = {"poll_id": poll.id, "choice_id": poll.choice_ids[number % len(poll.choice_ids)]}
        yield vegeta.Target("POST", f"{url}/api/votes/", {"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"},
                            json.dumps(body).encode())


def open_loop_figures(hits: list[vegeta.Hit], rate: float, seconds: float) -> dict[str, Any]:
    """One rate's outcome: what was accepted, how fast, and what happened to the rest (refused at once, timed out,
    anything else), overall and second by second (by the second each request was sent in)."""
    accepted = [hit.latency_ms for hit in hits if hit.status == 201]
    refused = [hit.latency_ms for hit in hits if hit.status in REFUSALS]
    timeouts = sum(hit.timed_out for hit in hits)
    by_second: list[list[vegeta.Hit]] = [[] for _ in range(math.ceil(seconds))]
    for hit in hits:
        by_second[min(int(hit.sent_s), len(by_second) - 1)].append(hit)
    return {
        "offered_per_s": round(rate, 1),
        "sent": len(hits),
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / seconds, 1),
        "refused": len(refused),
        "timeouts": timeouts,
        "other": len(hits) - len(accepted) - len(refused) - timeouts,
        "accepted_p50_ms": round(percentile(accepted, 50), 1),
        "accepted_p99_ms": round(percentile(accepted, 99), 1),
        "refused_p99_ms": round(percentile(refused, 99), 1),
        "statuses": dict(sorted(Counter(str(hit.status) for hit in hits).items())),
        "per_second": [{"accepted": sum(hit.status == 201 for hit in second),
                        "refused": sum(hit.status in REFUSALS for hit in second),
                        "accepted_p99_ms": round(percentile([h.latency_ms for h in second if h.status == 201], 99), 1)}
                       for second in by_second],
    }


def measured_capacity(run: Run, viral: dict[str, Any] | None) -> float:
    """The votes/s the platform holds: phase 1's best level, else a closed loop of its own at 32 connections."""
    if viral is not None:
        return max(median_of(runs, "accepted_per_s") for runs in viral["runs"]["services"].values())
    result = vote_load(run.platform.gateway, create_poll(run.client, run.owner), run.tokens_file, 32, run.args.seconds)
    log(f"open loop: capacity {result['accepted_per_s']:.0f} votes/s (closed loop, c=32)")
    return float(result["accepted_per_s"])


def phase_open_loop(run: Run, capacity: float) -> dict[str, Any]:
    """POST /api/votes/ offered at each share of ``capacity``, back to back, each rate on a poll of its own. vegeta
    waits longer than the gateway's read timeout, so a vote queued too long shows as the gateway's 504."""
    seconds = run.args.open_loop_seconds
    timeout = gateway_table().read_timeout + 5
    folder = WORK / "open-loop"
    folder.mkdir(exist_ok=True)
    prepared = []
    # Polls and targets first, so that nothing but the load runs between one rate and the next.
    for number, share in enumerate(OPEN_LOOP_SHARES):
        rate = share * capacity
        poll = create_poll(run.client, run.owner)
        targets = folder / f"targets-{number}.json"
        vegeta.write_targets(targets, vote_targets(run.platform.gateway, poll, run.voters(math.ceil(rate * seconds) + 50)))
        prepared.append((share, rate, poll, targets))
    rows = []
    for number, (share, rate, _, targets) in enumerate(prepared):
        before = cpu_seconds(run.supervisor)
        hits = vegeta.attack(targets, rate=rate, seconds=seconds, timeout=timeout, output=folder / f"hits-{number}.bin")
        row = {"share": share, **open_loop_figures(hits, rate, seconds)}
        row["cpu_ms_per_vote"] = cpu_per_vote(before, cpu_seconds(run.supervisor), {"statuses": {201: row["accepted"]}})
        row["load_average"] = round(os.getloadavg()[0], 1)
        rows.append(row)
        log(f"open loop {share:g}x: {row['offered_per_s']:.0f}/s offered, {row['accepted_per_s']:.0f} accepted/s "
            f"(p50 {row['accepted_p50_ms']} p99 {row['accepted_p99_ms']} ms), {row['refused']} refused "
            f"(p99 {row['refused_p99_ms']} ms), {row['timeouts']} timed out, statuses {row['statuses']}")
    for row, (_, _, poll, _) in zip(rows, prepared, strict=True):
        row["stored"] = stored_votes(poll)  # every accepted vote kept, none of the refused
    return {"capacity_per_s": round(capacity, 1), "seconds": seconds, "timeout_s": timeout, "rates": rows}


# ------------------------------------------------------------------------------------- reads at the gateway


def phase_cached_reads(run: Run, poll: Poll, size: int) -> dict[str, Any]:
    """A storm of readers of one poll's results through the gateway's cache, beside the same nginx serving a file
    of the answer's size from disk: the ceiling of a read served at the door."""
    path = f"/api/votes/results/{poll.id}/"
    static = STATIC / f"results-{size}.json"
    static.write_bytes(run.client.get(path).raise_for_status().content)
    figures: dict[str, Any] = {"body_bytes": static.stat().st_size}
    for name, url, read_path in (("cached", run.platform.gateway, path), ("static", run.platform.static,
                                                                          f"/{static.name}")):
        figures[name] = web_cpu_ms_per_request(run.supervisor, "vote-web", lambda: read_load(
            url, read_path, run.args.storm_connections, run.args.seconds))
        log(f"cached reads {size:>9,} votes: {name:<6} {figures[name]['per_s']:7.0f}/s p50 {figures[name]['p50_ms']:5.1f} "
            f"p99 {figures[name]['p99_ms']:5.1f} ms, statuses {figures[name]['statuses']}; vote-web CPU ms per read "
            f"{figures[name]['web_cpu_ms_per_request']}; machine {figures[name]['machine_busy_percent']}% busy")
    figures["cache_status"] = run.client.get(path).headers.get("X-Cache-Status")
    return figures


# ---------------------------------------------------------------------------------------------- tracing

TRACING_ROWS: tuple[tuple[str, float | None], ...] = (("off", None), ("sampled 10%", 0.1), ("sampled 100%", 1.0))
# The processes a vote's trace crosses: vote-service's request and relay, polls-service's consumer.
TRACED_SERVICES = ["vote", "polls"]


def tracing_env(ratio: float | None) -> dict[str, str]:
    """The OTEL_* variables of each row (docs/observability.md): off, or sampled at ``ratio`` with spans to the
    Zipkin of make infra-up (ZIPKIN_URL), else made and dropped."""
    if ratio is None:
        return {"OTEL_SDK_DISABLED": "true"}
    zipkin = os.environ.get("ZIPKIN_URL")
    exporter = {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans"} if zipkin else {"OTEL_TRACES_EXPORTER": "none"}
    return {"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}", **exporter}


def phase_tracing(run: Run, level: int) -> dict[str, Any]:
    """Votes at ``level`` connections with the vote path's processes and the gateway restarted for each row."""
    rows = {}
    for name, ratio in TRACING_ROWS:
        run.platform.restart(run.supervisor, TRACED_SERVICES, tracing_env(ratio), ratio or 0.0)
        vote_load(run.platform.gateway, create_poll(run.client, run.owner), run.tokens_file, 16, 3)  # warm-up
        poll = create_poll(run.client, run.owner)
        before = cpu_seconds(run.supervisor)
        result = vote_load(run.platform.gateway, poll, run.tokens_file, level, run.args.seconds)
        result["cpu_ms_per_vote"] = cpu_per_vote(before, cpu_seconds(run.supervisor), result)
        rows[name] = result
        log(f"tracing {name:<12} c={level}: {result['accepted_per_s']:.0f} votes/s p50 {result['p50_ms']:.1f} "
            f"p99 {result['p99_ms']:.1f} ms, statuses {result['statuses']}, CPU ms/vote {result['cpu_ms_per_vote']}")
    return {"level": level, "exporter": "zipkin" if os.environ.get("ZIPKIN_URL") else "none", "rows": rows}


# ------------------------------------------------------------------------------------ the vote path, batched

# The rows of the batch phase: vote-service's processes restarted with each row's settings (VOTES_BATCH, the group
# commit; RATE_LIMITS_TOGETHER, the caller's limits in one statement rather than a transaction each), then the
# monolith as it runs (its limits together, no batch). The first row is the vote path before either.
BATCH_ROWS: tuple[tuple[str, dict[str, str] | None], ...] = (
    ("current", {"VOTES_BATCH": "off", "RATE_LIMITS_TOGETHER": "false"}),
    ("batched", {"VOTES_BATCH": "on", "RATE_LIMITS_TOGETHER": "false"}),
    ("limits together", {"VOTES_BATCH": "off", "RATE_LIMITS_TOGETHER": "true"}),
    ("batched, limits together", {"VOTES_BATCH": "on", "RATE_LIMITS_TOGETHER": "true"}),
    ("monolith", None),
)


def phase_batch(run: Run) -> dict[str, Any]:
    """Votes closed loop at each of ``--batch-levels`` for each of BATCH_ROWS, ``--rounds`` times in that order, so
    that each round measures them all on the same machine within minutes; with ``--profile``, vote-service's web
    processes in each row at the top level of the first round."""
    args = run.args
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name, _ in BATCH_ROWS}
    for round_number in range(args.rounds):
        for name, batch in BATCH_ROWS:
            if batch is not None:
                run.platform.restart(run.supervisor, ["vote"], batch, None)
            url = run.platform.gateway if batch is not None else run.platform.monolith
            new_poll = (lambda: create_poll(run.client, run.owner)) if batch is not None else create_monolith_poll
            vote_load(url, new_poll(), run.tokens_file, 16, 3)  # warm-up: the restarted processes' first requests
            for level in args.batch_levels:
                poll = new_poll()
                spy = None
                if args.profile and batch is not None and round_number == 0 and level == max(args.batch_levels):
                    spy = profile(pid(run.supervisor, "vote-web"), args.seconds,
                                  RESULTS / f"vote-web-profile-{name.replace(',', '').replace(' ', '-')}.txt")
                database = SERVICE_DATABASES["vote"] if batch is not None else MONOLITH_DATABASE
                committed = commits(database)
                before = cpu_seconds(run.supervisor)
                result = vote_load(url, poll, run.tokens_file, level, args.seconds)
                result["cpu_ms_per_vote"] = cpu_per_vote(before, cpu_seconds(run.supervisor), result)
                if spy is not None:
                    spy.wait()
                if batch is not None:
                    result["consistency"] = settled_totals(run.client, poll)
                time.sleep(1.5)  # every backend has reported its commits
                # Every transaction of the database per accepted vote: the throttles', the vote's (one per batch),
                # the relay's and the consumer's; batched against one by one, the difference is the vote's share.
                result["commits_per_vote"] = round((commits(database) - committed) / max(result["statuses"].get(201, 0), 1), 2)
                rows[name].setdefault(level, []).append(result)
                log(f"batch round {round_number + 1} {name:>24} c={level:<3} {result['accepted_per_s']:7.0f} votes/s "
                    f"p50 {result['p50_ms']:6.1f} p99 {result['p99_ms']:6.1f} ms  statuses {result['statuses']}  "
                    f"load {result['load_average']}  commits/vote {result['commits_per_vote']}  "
                    f"CPU ms/vote {result['cpu_ms_per_vote']}")
    return {"levels": args.batch_levels, "rows": rows}


# ------------------------------------------------------------------------------------------- reporting


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def median_cpu(runs: list[dict[str, Any]]) -> dict[str, float]:
    kinds = {kind for run in runs for kind in run["cpu_ms_per_vote"]}
    medians = {kind: round(statistics.median(run["cpu_ms_per_vote"].get(kind, 0.0) for run in runs), 2)
               for kind in sorted(kinds)}
    return {kind: ms for kind, ms in medians.items() if ms > 0}


def range_of(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [round(min(run[key] for run in runs), 1), round(max(run[key] for run in runs), 1)]


def headline_level(runs: dict[int, list[dict[str, Any]]], levels: list[int]) -> int:
    """The level of the headline figures: the highest throughput among the levels without a single non-201
    answer and with a p99 under P99_TARGET_MS, the target's pair (throughput, and the latency at that load);
    without one, the highest throughput without a non-201."""
    clean = [level for level in levels if all(run["non_201"] == 0 for run in runs[level])] or levels
    fast = [level for level in clean if median_of(runs[level], "p99_ms") < P99_TARGET_MS] or clean
    return max(fast, key=lambda level: median_of(runs[level], "accepted_per_s"))


LABELS = {"1000": "1k", "100000": "100k", "1000000": "1m"}


def summarise_viral(viral: dict[str, Any], levels: list[int]) -> dict[str, Any]:
    services, monolith = viral["runs"]["services"], viral["runs"]["monolith"]
    best, best_monolith = headline_level(services, levels), headline_level(monolith, levels)
    saturated = max(levels, key=lambda level: median_of(services[level], "accepted_per_s"))
    every_run = [run for runs in viral["runs"].values() for level_runs in runs.values() for run in level_runs]
    summary = {
        "votes_per_s": round(median_of(services[best], "accepted_per_s"), 1),
        "votes_per_s_range": range_of(services[best], "accepted_per_s"),
        "votes_concurrency": best,
        "votes_p50_ms": round(median_of(services[best], "p50_ms"), 1),
        "votes_p95_ms": round(median_of(services[best], "p95_ms"), 1),
        "votes_p99_ms": round(median_of(services[best], "p99_ms"), 1),
        "votes_p99_ms_range": range_of(services[best], "p99_ms"),
        "votes_per_s_max": round(median_of(services[saturated], "accepted_per_s"), 1),
        "votes_max_concurrency": saturated,
        "votes_p99_ms_at_max": round(median_of(services[saturated], "p99_ms"), 1),
        "monolith_votes_per_s": round(median_of(monolith[best_monolith], "accepted_per_s"), 1),
        "monolith_votes_per_s_range": range_of(monolith[best_monolith], "accepted_per_s"),
        "monolith_concurrency": best_monolith,
        "monolith_votes_p99_ms": round(median_of(monolith[best_monolith], "p99_ms"), 1),
        "errors": sum(run["non_201"] for runs in services.values() for run in runs),
        "monolith_errors": sum(run["non_201"] for runs in monolith.values() for run in runs),
        "cpu_ms_per_vote": median_cpu(services[best]),
        "monolith_cpu_ms_per_vote": median_cpu(monolith[best_monolith]),
        "load_average_range": [min(run["load_average"] for run in every_run),
                               max(run["load_average"] for run in every_run)],
        "tallies_consistent": all(c["accepted"] == c["results_total"] == c["total_votes"] for c in viral["consistency"]),
    }
    summary["services_to_monolith"] = round(summary["votes_per_s"] / summary["monolith_votes_per_s"], 2)
    return summary


def summarise_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Per row and level: median votes/s, p99 and CPU per vote over the rounds; the headline pair of each row as
    the viral phase picks it (the most votes/s with no non-201 and a p99 under the target)."""
    rows: dict[str, Any] = {}
    for name, runs in batch["rows"].items():
        levels = {str(level): {"votes_per_s": round(median_of(level_runs, "accepted_per_s"), 1),
                               "votes_per_s_range": range_of(level_runs, "accepted_per_s"),
                               "p99_ms": round(median_of(level_runs, "p99_ms"), 1),
                               "non_201": sum(run["non_201"] for run in level_runs),
                               "cpu_ms_per_vote": median_cpu(level_runs),
                               "commits_per_vote": round(median_of(level_runs, "commits_per_vote"), 2),
                               "load_average": [run["load_average"] for run in level_runs]}
                  for level, level_runs in runs.items()}
        best = headline_level(runs, batch["levels"])
        rows[name] = {"levels": levels, "headline_concurrency": best, **{
            key: levels[str(best)][key] for key in ("votes_per_s", "p99_ms")}}
    summary: dict[str, Any] = {"batch_rows": rows}
    current, monolith = rows["current"]["votes_per_s"], rows["monolith"]["votes_per_s"]
    for name, row in rows.items():
        key = name.replace(",", "").replace(" ", "_")
        summary[f"vote_path_{key}_votes_per_s"], summary[f"vote_path_{key}_p99_ms"] = row["votes_per_s"], row["p99_ms"]
        summary[f"vote_path_{key}_to_current"] = round(row["votes_per_s"] / current, 2)
        summary[f"vote_path_{key}_to_monolith"] = round(row["votes_per_s"] / monolith, 2)
    summary["batch_tallies_consistent"] = all(
        run["consistency"]["accepted"] == run["consistency"]["results_total"] == run["consistency"]["total_votes"]
        for name, runs in batch["rows"].items() if name != "monolith" for level_runs in runs.values()
        for run in level_runs)
    return summary


def summarise_freshness(fresh: dict[str, Any]) -> dict[str, Any]:
    return {
        "freshness_p50_ms": round(max(fresh["results"]["p50_ms"], fresh["total_votes"]["p50_ms"]), 1),
        "freshness_p99_ms": round(max(fresh["results"]["p99_ms"], fresh["total_votes"]["p99_ms"]), 1),
        "relay_p99_ms": round(fresh["stages"]["relay"]["p99_ms"], 1),
        "consumer_p99_ms": round(fresh["stages"]["consumer"]["p99_ms"], 1),
    }


def summarise_reads(reads: dict[str, Any], read_rate: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"read_rate": read_rate}
    for size, figures in reads.items():
        label = LABELS.get(size, size)
        summary[f"results_p50_ms_{label}"] = round(figures["results"]["p50_ms"], 1)
        summary[f"results_p99_ms_{label}"] = round(figures["results"]["p99_ms"], 1)
        summary[f"poll_p99_ms_{label}"] = round(figures["poll"]["p99_ms"], 1)
        summary[f"results_cpu_ms_{label}"] = figures["results"]["web_cpu_ms_per_request"]
        summary[f"results_storm_per_s_{label}"] = round(figures["results_storm"]["per_s"])
        summary[f"results_storm_p99_ms_{label}"] = round(figures["results_storm"]["p99_ms"], 1)
        cached, static = figures["cached"]["cached"], figures["cached"]["static"]
        summary[f"cached_reads_per_s_{label}"] = round(cached["per_s"])
        summary[f"cached_reads_p99_ms_{label}"] = round(cached["p99_ms"], 1)
        summary[f"static_reads_per_s_{label}"] = round(static["per_s"])
        summary[f"static_reads_p99_ms_{label}"] = round(static["p99_ms"], 1)
        summary[f"cached_to_static_{label}"] = round(cached["per_s"] / static["per_s"], 2)
    return summary


def summarise_open_loop(open_loop: dict[str, Any]) -> dict[str, Any]:
    """The 2x rate's figures (the overload_* keys) and the 1x after it, against the 1x before it."""
    rates = open_loop["rates"]
    before, burst, after = rates[OPEN_LOOP_SHARES.index(1.0)], rates[OPEN_LOOP_SHARES.index(2.0)], rates[-1]
    return {
        "open_loop_capacity_per_s": open_loop["capacity_per_s"],
        "overload_goodput_ratio": round(burst["accepted_per_s"] / open_loop["capacity_per_s"], 2),
        "overload_accepted_per_s": burst["accepted_per_s"],
        "overload_accepted_p99_ms": burst["accepted_p99_ms"],
        "overload_refused": burst["refused"],
        "overload_refused_p99_ms": burst["refused_p99_ms"],
        "overload_timeouts": burst["timeouts"],
        "overload_other_errors": sum(row["other"] for row in rates),
        "overload_recovery_accepted_ratio": round(after["accepted_per_s"] / max(before["accepted_per_s"], 1), 2),
        "overload_recovery_p99_ms": after["accepted_p99_ms"],
        "open_loop_stored_equal_accepted": all(row["stored"] == row["accepted"] for row in rates),
    }


def summarise_tracing(tracing: dict[str, Any]) -> dict[str, Any]:
    rows = tracing["rows"]
    summary: dict[str, Any] = {}
    for name, key in (("off", "off"), ("sampled 10%", "10"), ("sampled 100%", "100")):
        summary[f"tracing_{key}_votes_per_s"] = round(rows[name]["accepted_per_s"], 1)
        summary[f"tracing_{key}_p99_ms"] = round(rows[name]["p99_ms"], 1)
    off = summary["tracing_off_votes_per_s"]
    summary["tracing_10_loss"] = round(1 - summary["tracing_10_votes_per_s"] / off, 3)
    summary["tracing_100_loss"] = round(1 - summary["tracing_100_votes_per_s"] / off, 3)
    return summary


def _axes_done(*axes: Any) -> None:
    for one in axes:
        one.legend()
        one.grid(alpha=0.3)
        one.set_ylim(bottom=0)


def plot_viral(plt: Any, viral: dict[str, Any], levels: list[int]) -> Path:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for kind, style in (("services", "o-"), ("monolith", "s--")):
        runs = viral["runs"][kind]
        throughput.plot(levels, [median_of(runs[c], "accepted_per_s") for c in levels], style, label=kind)
        throughput.fill_between(levels, [min(r["accepted_per_s"] for r in runs[c]) for c in levels],
                                [max(r["accepted_per_s"] for r in runs[c]) for c in levels], alpha=0.2)
        for key, dash in (("p50_ms", ":"), ("p99_ms", "-")):
            latency.plot(levels, [median_of(runs[c], key) for c in levels], style[0] + dash,
                         label=f"{kind} {key.removesuffix('_ms')}")
    throughput.set(title="Accepted votes/s through nginx", xlabel="concurrent connections", ylabel="votes/s")
    latency.set(title="Vote latency", xlabel="concurrent connections", ylabel="ms")
    _axes_done(throughput, latency)
    return save(figure, "votes-throughput-latency.png")


def plot_reads(plt: Any, reads: dict[str, Any]) -> Path:
    figure, (latency, cached) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = sorted(reads, key=int)
    for endpoint, key, dash in (("results", "p50_ms", ":"), ("results", "p99_ms", "-"), ("poll", "p99_ms", "-"),
                                ("results_storm", "p99_ms", "--"), ("poll_storm", "p99_ms", "--")):
        latency.plot([int(s) for s in sizes], [reads[s][endpoint][key] for s in sizes], "o" + dash,
                     label=f"GET {endpoint.replace('_storm', ' (storm)')} {key.removesuffix('_ms')}")
    latency.set(title="Read latency against poll size (paced, and as a storm)", xlabel="votes in the poll",
                ylabel="ms", xscale="log")
    labels = [LABELS.get(s, s) for s in sizes]
    for offset, name in ((-0.2, "cached"), (0.2, "static")):
        bars = cached.bar([i + offset for i in range(len(sizes))], [reads[s]["cached"][name]["per_s"] for s in sizes],
                          0.4, label=f"{name}: reads/s (p99 ms above)")
        cached.bar_label(bars, [f"{reads[s]['cached'][name]['p99_ms']:.1f}" for s in sizes])
    cached.set(title="Results read storm through nginx's cache, beside a static file", xlabel="votes in the poll",
               ylabel="reads/s", xticks=range(len(sizes)), xticklabels=labels)
    _axes_done(latency, cached)
    return save(figure, "votes-reads.png")


def plot_open_loop(plt: Any, open_loop: dict[str, Any]) -> Path:
    figure, (rates, latency, timeline) = plt.subplots(1, 3, figsize=(15, 4))
    rows, capacity = open_loop["rates"], open_loop["capacity_per_s"]
    names = [f"{row['share']:g}x" + (" after" if number == len(rows) - 1 else "") for number, row in enumerate(rows)]
    positions = range(len(rows))
    rates.plot(positions, [row["offered_per_s"] for row in rows], "k:", label="offered")
    rates.plot(positions, [row["accepted_per_s"] for row in rows], "o-", label="accepted (201)")
    rates.plot(positions, [row["refused"] / open_loop["seconds"] for row in rows], "s--", label="refused (503/429)")
    rates.axhline(capacity, color="grey", alpha=0.5, label="capacity (closed loop)")
    rates.set(title="Votes/s offered open loop through nginx", ylabel="per s", xticks=positions, xticklabels=names)
    for key, style in (("accepted_p50_ms", "o:"), ("accepted_p99_ms", "o-"), ("refused_p99_ms", "s--")):
        latency.plot(positions, [row[key] for row in rows], style, label=key.removesuffix("_ms").replace("_", " "))
    latency.axhline(250, color="red", alpha=0.4, label="target p99 250 ms")
    latency.set(title="Latency of the answers", ylabel="ms", xticks=positions, xticklabels=names)
    seconds = [second for row in rows for second in row["per_second"]]
    timeline.plot(range(len(seconds)), [s["accepted"] for s in seconds], label="accepted/s")
    timeline.plot(range(len(seconds)), [s["refused"] for s in seconds], label="refused/s")
    timeline.plot(range(len(seconds)), [s["accepted_p99_ms"] for s in seconds], label="accepted p99 ms")
    for number, name in enumerate(names):
        timeline.axvline(number * open_loop["seconds"], color="grey", alpha=0.3)
        timeline.text(number * open_loop["seconds"] + 0.2, 0, name, fontsize=8)
    timeline.set(title="Second by second, by sending time", xlabel="s")
    _axes_done(rates, latency, timeline)
    return save(figure, "votes-open-loop.png")


def plot_tracing(plt: Any, tracing: dict[str, Any]) -> Path:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(9, 4))
    names = list(tracing["rows"])
    throughput.bar(names, [tracing["rows"][name]["accepted_per_s"] for name in names], label="votes/s")
    latency.bar(names, [tracing["rows"][name]["p99_ms"] for name in names], color="tab:orange", label="p99 ms")
    throughput.set(title=f"Votes/s at c={tracing['level']}, by tracing", ylabel="votes/s")
    latency.set(title="Vote p99 by tracing", ylabel="ms")
    _axes_done(throughput, latency)
    return save(figure, "votes-tracing.png")


def save(figure: Any, name: str) -> Path:
    figure.tight_layout()
    figure.savefig(RESULTS / name, dpi=110)
    return RESULTS / name


def plot(document: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {"viral": lambda: plot_viral(plt, document["viral"], document["levels"]),
             "reads": lambda: plot_reads(plt, document["reads"]),
             "open_loop": lambda: plot_open_loop(plt, document["open_loop"]),
             "tracing": lambda: plot_tracing(plt, document["tracing"])}
    return [draw() for phase, draw in plots.items() if phase in document]


def table_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's rows for the keys the run's phases wrote."""
    s = summary
    rows: list[tuple[str, str, str]] = []
    if "votes_per_s" in s:
        rows += [
            ("votes_per_s through nginx (median, range)",
             f"{s['votes_per_s']:.0f} ({s['votes_per_s_range'][0]:.0f}-{s['votes_per_s_range'][1]:.0f})"
             f" at c={s['votes_concurrency']}", ">= 600"),
            ("non-201 answers in phase 1", str(s["errors"]), "0"),
            ("votes/s at saturation (median), its p99 ms",
             f"{s['votes_per_s_max']:.0f} at c={s['votes_max_concurrency']}, {s['votes_p99_ms_at_max']}", ""),
            ("votes p50 / p95 / p99 ms", f"{s['votes_p50_ms']} / {s['votes_p95_ms']} / {s['votes_p99_ms']}", "p99 < 100"),
            ("monolith_votes_per_s (median, range)",
             f"{s['monolith_votes_per_s']:.0f} ({s['monolith_votes_per_s_range'][0]:.0f}-"
             f"{s['monolith_votes_per_s_range'][1]:.0f}) at c={s['monolith_concurrency']}", ""),
            ("services / monolith", f"{s['services_to_monolith']:.2f}", ">= 1.0"),
            ("CPU ms per vote, services", ", ".join(f"{k} {v}" for k, v in s["cpu_ms_per_vote"].items()), ""),
            ("CPU ms per vote, monolith", ", ".join(f"{k} {v}" for k, v in s["monolith_cpu_ms_per_vote"].items()), ""),
            ("accepted = results total = total_votes", str(s["tallies_consistent"]), "True"),
            ("load average (1 min) during phase 1", "-".join(str(v) for v in s["load_average_range"]), ""),
        ]
    if "overload_goodput_ratio" in s:
        rows += [
            ("open loop: capacity votes/s (closed loop)", f"{s['open_loop_capacity_per_s']:.0f}", ""),
            ("open loop 2x: accepted/s / capacity", f"{s['overload_accepted_per_s']:.0f}, {s['overload_goodput_ratio']}",
             ">= 0.9"),
            ("open loop 2x: accepted p99 ms; refused (their p99 ms)",
             f"{s['overload_accepted_p99_ms']}; {s['overload_refused']} ({s['overload_refused_p99_ms']})", "< 250"),
            ("open loop 2x: timed out; other errors at any rate",
             f"{s['overload_timeouts']}; {s['overload_other_errors']}", "0"),
            ("open loop 1x after 2x: accepted/s vs 1x before, p99 ms",
             f"{s['overload_recovery_accepted_ratio']}, {s['overload_recovery_p99_ms']}", ""),
            ("open loop: stored votes = accepted", str(s["open_loop_stored_equal_accepted"]), "True"),
        ]
    for label in LABELS.values():
        if f"results_p99_ms_{label}" in s:
            rows += [
                (f"results p99 ms at {label} votes, {s['read_rate']:.0f} reads/s", str(s[f"results_p99_ms_{label}"]), ""),
                (f"results storm at {label} votes: reads/s, p99 ms",
                 f"{s[f'results_storm_per_s_{label}']}, {s[f'results_storm_p99_ms_{label}']}", ""),
                (f"results: vote-service CPU ms per read at {label} votes", str(s[f"results_cpu_ms_{label}"]), ""),
                (f"poll p99 ms at {label} votes", str(s[f"poll_p99_ms_{label}"]), ""),
                (f"cached_reads_per_s_{label}, p99 ms", f"{s[f'cached_reads_per_s_{label}']}, "
                 f"{s[f'cached_reads_p99_ms_{label}']}", ">= 10,000, < 20" if label == "1m" else ""),
                (f"static file at {label}: reads/s, p99 ms; cached / static",
                 f"{s[f'static_reads_per_s_{label}']}, {s[f'static_reads_p99_ms_{label}']}; "
                 f"{s[f'cached_to_static_{label}']}", ""),
            ]
    if "freshness_p99_ms" in s:
        rows += [
            ("freshness p50 / p99 ms", f"{s['freshness_p50_ms']} / {s['freshness_p99_ms']}", "p99 < 250"),
            ("total_votes' lag: relay / consumer p99 ms", f"{s['relay_p99_ms']} / {s['consumer_p99_ms']}", ""),
        ]
    if "live_watchers" in s:
        rows += [
            ("live watchers held / asked while votes flow", f"{s['live_watchers']} / {s['live_watchers_asked']}",
             ">= 5,000"),
            ("live update delay p50 / p99 ms; updates missed",
             f"{s['live_update_p50_ms']} / {s['live_update_p99_ms']}; {s['live_updates_missed']}", "p99 < 2,000; 0"),
        ]
    if "batch_rows" in s:
        for name, row in s["batch_rows"].items():
            rows += [(f"vote path {name}: votes/s, p99 ms at c={level}; CPU ms/vote",
                      f"{figures['votes_per_s']:.0f}, {figures['p99_ms']}; commits/vote {figures['commits_per_vote']}; "
                      + ", ".join(
                          f"{k} {v}" for k, v in figures["cpu_ms_per_vote"].items()), ">= 600, < 100")
                     for level, figures in row["levels"].items()]
        rows += [(f"vote path {name}: / current, / monolith (headlines)",
                  f"{s[f'vote_path_{key}_to_current']}, {s[f'vote_path_{key}_to_monolith']}", ">= 1.0")
                 for name in s["batch_rows"] if name != "monolith"
                 for key in [name.replace(",", "").replace(" ", "_")]]
        rows += [("batch phase: accepted = results total = total_votes", str(s["batch_tallies_consistent"]), "True")]
    if "tracing_off_votes_per_s" in s:
        rows += [(f"tracing {name}: votes/s, p99 ms", f"{s[f'tracing_{key}_votes_per_s']}, {s[f'tracing_{key}_p99_ms']}",
                  "") for name, key in (("off", "off"), ("10%", "10"), ("100%", "100"))]
        rows += [("tracing 10% / 100%: votes/s lost against off", f"{s['tracing_10_loss']:.1%} / {s['tracing_100_loss']:.1%}",
                  "10%: <= 5%")]
    return rows


def print_table(summary: dict[str, Any]) -> None:
    rows = table_rows(summary)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}} | {'measured':<32} | target")
    print("-" * (width + 48))
    for name, value, target in rows:
        print(f"{name:<{width}} | {value:<32} | {target}")


PHASES = ("viral", "open-loop", "reads", "freshness", "live", "batch", "tracing")


def run_phases(run: Run, phases: set[str]) -> dict[str, Any]:
    """The chosen phases in PHASES' order, each phase's figures under its key of votes.json."""
    args, done = run.args, {}
    if "viral" in phases:
        warm_up(run.platform, run.owner, run.tokens_file, run.client)
        done["viral"] = phase_viral(args, run.platform, run.owner, run.tokens_file, run.client, run.supervisor)
    else:
        vote_load(run.platform.gateway, create_poll(run.client, run.owner), run.tokens_file, 16, 3)  # warm-up
    level = args.freshness_level or (headline_level(done["viral"]["runs"]["services"], args.levels)
                                     if "viral" in done else 8)
    if "open-loop" in phases:
        done["open_loop"] = phase_open_loop(run, measured_capacity(run, done.get("viral")))
    if "reads" in phases:
        done["reads"] = phase_reads(run)
    if "freshness" in phases:
        done["freshness"] = phase_freshness(args, run.platform, run.owner, run.tokens_file,
                                            run.tokens[args.voters:], run.client, level)
    if "live" in phases:
        done["live"] = phase_live(run, level)
    if "batch" in phases:  # it restarts vote-service's processes, leaving the group commit on as by default
        done["batch"] = phase_batch(run)
    if "tracing" in phases:  # last: it restarts the vote path's processes
        done["tracing"] = phase_tracing(run, level)
    return done


def phase_live(run: Run, level: int) -> dict[str, Any]:
    """bench/live_bench.py's watchers of one poll's live results while votes flow at ``level`` on its other
    choices; its probe voters (a choice of their own) are not among the load's."""
    args = run.args
    poll = create_poll(run.client, run.owner)
    probes = run.voters(args.voters + math.ceil(args.live_seconds / LIVE_PROBE_EVERY) + 10)[args.voters:]
    found: dict[str, Any] = {}
    # Votes flow while the watchers connect too, so the load outlasts both.
    loader = threading.Thread(target=lambda: found.update(load=vote_load(
        run.platform.gateway, Poll(poll.id, poll.choice_ids[1:]), run.tokens_file, level,
        args.live_seconds + LIVE_OPENING_SECONDS)))
    loader.start()
    try:
        figures = live_watchers_phase(run.platform.gateway, poll.id, poll.choice_ids[0], probes,
                                      watchers=args.live_watchers, seconds=args.live_seconds,
                                      probe_every=LIVE_PROBE_EVERY)
    finally:
        loader.join()
    return {**figures, "load": found.get("load")}


def summarise(done: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    summaries = {"viral": lambda: summarise_viral(done["viral"], args.levels),
                 "open_loop": lambda: summarise_open_loop(done["open_loop"]),
                 "reads": lambda: summarise_reads(done["reads"], args.read_rate),
                 "freshness": lambda: summarise_freshness(done["freshness"]),
                 "live": lambda: {k: v for k, v in done["live"].items() if k.startswith("live_")},
                 "batch": lambda: summarise_batch(done["batch"]),
                 "tracing": lambda: summarise_tracing(done["tracing"])}
    return {key: value for phase, keys in summaries.items() if phase in done for key, value in keys().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_VOTES_PORT_BASE", 18400)),
                        help="gateway port; services on the next four, the monolith on +5 and its nginx on +10, "
                             "the gateway's static file server on +11")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"which phases to run, in this order whatever the order given: {','.join(PHASES)}")
    parser.add_argument("--levels", default="8,32,64", help="concurrent connections of phase 1")
    parser.add_argument("--rounds", type=int, default=2, help="phase 1 runs per level and kind, alternating")
    parser.add_argument("--seconds", type=float, default=8, help="length of each closed-loop load run")
    parser.add_argument("--open-loop-seconds", type=float, default=10, help="length of each open-loop rate")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="poll sizes of phase 2")
    parser.add_argument("--read-connections", type=int, default=16)
    parser.add_argument("--read-rate", type=float, default=200, help="reads/s offered for phase 2's latency")
    parser.add_argument("--storm-connections", type=int, default=64, help="connections of the cached read storm")
    parser.add_argument("--freshness-level", type=int,
                        help="connections of phase 3's and the tracing rows' load (default: the headline's)")
    parser.add_argument("--freshness-seconds", type=float, default=30)
    parser.add_argument("--voters", type=int, default=15000, help="voters per phase-1 run at most")
    parser.add_argument("--live-watchers", type=int, default=5000, help="streams of the live phase")
    parser.add_argument("--live-seconds", type=float, default=30, help="how long the live phase's probe votes")
    parser.add_argument("--batch-levels", default="8,32",
                        help="connections of the batch phase's closed loops (group commit off, on, the monolith)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy vote-service's web processes, its relay and polls-service's consumer at the top level")
    args = parser.parse_args()
    args.levels = [int(v) for v in args.levels.split(",")]
    args.sizes = [int(v) for v in args.sizes.split(",")]
    args.batch_levels = [int(v) for v in args.batch_levels.split(",")]
    phases = set(args.phases.split(","))
    if phases - set(PHASES):
        raise SystemExit(f"--phases: of {', '.join(PHASES)}")
    if not (os.environ.get("DATABASE_URL") and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        raise SystemExit("needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS: eval \"$(bash infra/infra.sh up)\"")
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install -y wrk)")
    if "open-loop" in phases:
        log(f"vegeta: {vegeta.binary()}")  # built now, not between two phases

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    for stale in WORK.glob("*.log"):
        stale.unlink()
    prefix = f"bench-votes-{uuid.uuid4().hex[:8]}."
    started = time.monotonic()
    # Its processes stop with it, on SIGTERM and Ctrl-C too; an exit of any of them fails the run.
    supervisor = Supervisor(logs=WORK, backoff=None, voice="bench")
    with supervisor.stopping_on_signals():
        recreate_databases()
        platform = start_platform(supervisor, args.port_base, prefix)
        owner = Owner(platform)
        tokens = make_voters(platform, args.voters + 2000, lifetime=3600)
        log(f"{len(tokens):,} voters with tokens in {time.monotonic() - started:.1f} s since the start")
        tokens_file = WORK / "tokens.txt"
        tokens_file.write_text("\n".join(tokens[:args.voters]) + "\n")
        with httpx.Client(base_url=platform.gateway, timeout=30) as client:
            done = run_phases(Run(args, platform, owner, client, supervisor, tokens, tokens_file), phases)
        supervisor.tick()
    summary = summarise(done, args)
    document = {**summary, "machine": {"cpus": os.cpu_count()}, "levels": args.levels,
                "chart_counts": {service.name: chart_counts(service) for service in SERVICES}, **done,
                "seconds_taken": round(time.monotonic() - started),
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (RESULTS / "votes.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    for path in plot(document):
        log(f"wrote {path.relative_to(ROOT)}")
    log(f"wrote {(RESULTS / 'votes.json').relative_to(ROOT)} ({document['seconds_taken']} s in all)")
    print_table(summary)


if __name__ == "__main__":
    main()
