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
as it signs them. wrk (bench/votes.lua) drives the load. Phases:
  1 viral poll   a fresh poll with 4 choices per run, every vote from another voter; closed loop at each
                 concurrency level, services and monolith alternating, `--rounds` times.
  2 read storm   GET results and GET poll while a poll holds 1k, 100k and 1M votes (bulk-loaded in SQL).
  3 freshness    under the load of phase 1, a probe votes on a poll of its own and times each vote's 201 to its
                 count in results and in the poll's total_votes.
Writes bench/results/votes.json and PNG plots beside it, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
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

from fleet import Service, load  # noqa: E402
from fleet import plan as fleet_plan  # noqa: E402
from fleet.plan import Process  # noqa: E402
from fleet.supervisor import Supervisor, answers  # noqa: E402

RESULTS = BENCH / "results"
WORK = ROOT / ".cache" / "bench-votes"
SERVICES = load()  # the platform's one list
SERVICES_BY_NAME = {service.name: service for service in SERVICES}
SERVICE_DATABASES = {service.name: service.database for service in SERVICES}
MONOLITH_DATABASE = "bench_monolith"
CHOICES_PER_POLL = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WRK_THREADS = 2
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
    PostgreSQL and Kafka servers (processes named postgres and java), and by the whole machine."""
    names = supervisor.pids()
    used = dict.fromkeys([*names.values(), "postgresql", "kafka"], 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            command, fields = stat.read_text().rsplit(")", 1)
            fields = fields.split()
            name = {"(postgres": "postgresql", "(java": "kafka"}.get(command.split(" ", 1)[1], names.get(int(fields[2])))
            if name is not None:
                used[name] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    used["machine"] = (sum(int(v) for v in cpu[:8]) - int(cpu[3]) - int(cpu[4])) / CLOCK_TICKS  # less idle, iowait
    return used


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


def start_nginx(supervisor: Supervisor, name: str, port: int, upstreams: dict[str, str]) -> str:
    sys.path.insert(0, str(ROOT / "gateway"))
    from gateway import nginx
    from gateway.table import load

    table = load(environ={**os.environ, **upstreams})
    table = table.without_limits()
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    config = nginx.render(table, listen=f"127.0.0.1:{port}", access_log=str(folder / "access.log"))
    (folder / "nginx.conf").write_text(nginx.render_main(config))
    command = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"),
               "-e", "stderr"]
    if os.geteuid() == 0:
        command += ["-g", "user root;"]
    supervisor.add(Process(name, tuple(command), folder))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/healthz", supervisor)
    return url


@dataclass
class Platform:
    gateway: str
    monolith: str
    private_key: rsa.RSAPrivateKey
    vote_web_pid: int


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
    }
    ports = {service: port_base + 1 + index for index, service in enumerate(SERVICES)}
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
        for process in (plan.web, *plan.relays, *plan.consumers):
            supervisor.add(process)
    for port in ports.values():
        wait_healthy(f"http://127.0.0.1:{port}/healthz", supervisor)
    gateway = start_nginx(supervisor, "gateway", port_base, fleet_plan.upstreams(ports.items()))

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
    return Platform(gateway, monolith, private_key, pid(supervisor, "vote-web"))


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
    # What each service's projection of user.registered would hold: the services refuse unknown users' tokens.
    for database in [*(service.database for service in SERVICES if service.name != "auth"), MONOLITH_DATABASE]:
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
    """Votes one at a time on a poll of its own; after each 201, reads until the vote is counted."""
    lags: dict[str, list[float]] = {"results": [], "total_votes": []}
    for number, token in enumerate(tokens, 1):
        if stop.is_set():
            break
        vote = client.post("/api/votes/", json={"poll_id": poll.id, "choice_id": poll.choice_ids[0]},
                           headers={"Authorization": f"Bearer {token}"})
        if vote.status_code != 201:
            continue
        accepted = time.perf_counter()
        pending = {"results": f"/api/votes/results/{poll.id}/", "total_votes": f"/api/polls/{poll.id}/"}
        while pending:
            for name, path in list(pending.items()):
                body = client.get(path).json()
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
                "nginx" if name.endswith("gateway") else name if name in ("postgresql", "kafka", "machine") else
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


def phase_reads(args: argparse.Namespace, platform: Platform, owner: Owner,
                client: httpx.Client, supervisor: Supervisor) -> dict[str, Any]:
    """At each poll size, each read twice: at a fixed rate (``--read-rate``), for its latency, then as a storm
    (closed loop at ``--read-connections``), for the reads/s the platform holds and the latency of its queue."""
    reads: dict[str, Any] = {}
    for size in args.sizes:
        poll = create_poll(client, owner)
        started = time.monotonic()
        bulk_load(poll, size)
        log(f"phase 2: {size:,} votes loaded in {time.monotonic() - started:.1f} s")
        totals = wait_totals(client, poll.id, size, timeout=5)
        assert totals == (size, size), f"after the bulk load the totals read {totals}"
        reads[str(size)] = {}
        for endpoint, path, web in (("results", f"/api/votes/results/{poll.id}/", "vote-web"),
                                    ("poll", f"/api/polls/{poll.id}/", "polls-web")):
            for mode, rate in (("paced", args.read_rate), ("storm", None)):
                result = web_cpu_ms_per_request(supervisor, web, lambda: read_load(
                    platform.gateway, path, args.read_connections, args.seconds, rate))
                reads[str(size)][endpoint if mode == "paced" else f"{endpoint}_storm"] = result
                log(f"phase 2 {size:>9,} votes: GET {endpoint:<7} {mode:<5} {result['per_s']:5.0f}/s "
                    f"p50 {result['p50_ms']:6.1f} p99 {result['p99_ms']:6.1f} ms; "
                    f"web CPU ms per read {result['web_cpu_ms_per_request']}; machine {result['machine_busy_percent']}% busy")
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


def summarise(viral: dict[str, Any], reads: dict[str, Any], fresh: dict[str, Any], levels: list[int]) -> dict[str, Any]:
    services, monolith = viral["runs"]["services"], viral["runs"]["monolith"]
    best, best_monolith = headline_level(services, levels), headline_level(monolith, levels)
    saturated = max(levels, key=lambda level: median_of(services[level], "accepted_per_s"))
    sizes = sorted(reads, key=int)
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
        "freshness_p50_ms": round(max(fresh["results"]["p50_ms"], fresh["total_votes"]["p50_ms"]), 1),
        "freshness_p99_ms": round(max(fresh["results"]["p99_ms"], fresh["total_votes"]["p99_ms"]), 1),
        "relay_p99_ms": round(fresh["stages"]["relay"]["p99_ms"], 1),
        "consumer_p99_ms": round(fresh["stages"]["consumer"]["p99_ms"], 1),
        "cpu_ms_per_vote": median_cpu(services[best]),
        "monolith_cpu_ms_per_vote": median_cpu(monolith[best_monolith]),
        "load_average_range": [min(run["load_average"] for runs in viral["runs"].values() for level_runs in
                                   runs.values() for run in level_runs),
                               max(run["load_average"] for runs in viral["runs"].values() for level_runs in
                                   runs.values() for run in level_runs)],
        "tallies_consistent": all(c["accepted"] == c["results_total"] == c["total_votes"] for c in viral["consistency"]),
    }
    summary["services_to_monolith"] = round(summary["votes_per_s"] / summary["monolith_votes_per_s"], 2)
    names = {"1000": "1k", "100000": "100k", "1000000": "1m"}
    for size in sizes:
        label = names.get(size, size)
        summary[f"results_p50_ms_{label}"] = round(reads[size]["results"]["p50_ms"], 1)
        summary[f"results_p99_ms_{label}"] = round(reads[size]["results"]["p99_ms"], 1)
        summary[f"poll_p99_ms_{label}"] = round(reads[size]["poll"]["p99_ms"], 1)
        summary[f"results_cpu_ms_{label}"] = reads[size]["results"]["web_cpu_ms_per_request"]
        summary[f"results_storm_per_s_{label}"] = round(reads[size]["results_storm"]["per_s"])
        summary[f"results_storm_p99_ms_{label}"] = round(reads[size]["results_storm"]["p99_ms"], 1)
    return summary


def plot(viral: dict[str, Any], reads: dict[str, Any], levels: list[int]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
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
    for axes in (throughput, latency):
        axes.legend()
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)
    figure.tight_layout()
    written.append(RESULTS / "votes-throughput-latency.png")
    figure.savefig(written[-1], dpi=110)

    figure, axes = plt.subplots(figsize=(6, 4))
    sizes = sorted(reads, key=int)
    for endpoint, key, dash in (("results", "p50_ms", ":"), ("results", "p99_ms", "-"), ("poll", "p99_ms", "-"),
                                ("results_storm", "p99_ms", "--"), ("poll_storm", "p99_ms", "--")):
        axes.plot([int(s) for s in sizes], [reads[s][endpoint][key] for s in sizes], "o" + dash,
                  label=f"GET {endpoint.replace('_storm', ' (storm)')} {key.removesuffix('_ms')}")
    axes.set(title="Read latency against poll size (paced, and as a storm)", xlabel="votes in the poll",
             ylabel="ms", xscale="log")
    axes.set_ylim(bottom=0)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    written.append(RESULTS / "votes-reads.png")
    figure.savefig(written[-1], dpi=110)
    return written


def print_table(summary: dict[str, Any]) -> None:
    rows = [
        ("votes_per_s through nginx (median, range)",
         f"{summary['votes_per_s']:.0f} ({summary['votes_per_s_range'][0]:.0f}-{summary['votes_per_s_range'][1]:.0f})"
         f" at c={summary['votes_concurrency']}", ">= 600"),
        ("non-201 answers in phase 1", str(summary["errors"]), "0"),
        ("votes/s at saturation (median), its p99 ms",
         f"{summary['votes_per_s_max']:.0f} at c={summary['votes_max_concurrency']}, {summary['votes_p99_ms_at_max']}", ""),
        ("votes p50 / p95 / p99 ms",
         f"{summary['votes_p50_ms']} / {summary['votes_p95_ms']} / {summary['votes_p99_ms']}", "p99 < 100"),
        ("monolith_votes_per_s (median, range)",
         f"{summary['monolith_votes_per_s']:.0f} ({summary['monolith_votes_per_s_range'][0]:.0f}-"
         f"{summary['monolith_votes_per_s_range'][1]:.0f}) at c={summary['monolith_concurrency']}", ""),
        ("services / monolith", f"{summary['services_to_monolith']:.2f}", ">= 0.7"),
        ("CPU ms per vote, services", ", ".join(f"{k} {v}" for k, v in summary["cpu_ms_per_vote"].items()), ""),
        ("CPU ms per vote, monolith", ", ".join(f"{k} {v}" for k, v in summary["monolith_cpu_ms_per_vote"].items()), ""),
        *((f"results p99 ms at {label} votes, {summary['read_rate']:.0f} reads/s", str(summary[f"results_p99_ms_{label}"]),
           "< 20, <= 2x 1k" if label == "1m" else "")
          for label in ("1k", "100k", "1m") if f"results_p99_ms_{label}" in summary),
        *((f"results storm at {label} votes: reads/s, p99 ms",
           f"{summary[f'results_storm_per_s_{label}']}, {summary[f'results_storm_p99_ms_{label}']}", "")
          for label in ("1k", "100k", "1m") if f"results_storm_per_s_{label}" in summary),
        *((f"results: vote-service CPU ms per read at {label} votes", str(summary[f"results_cpu_ms_{label}"]), "")
          for label in ("1k", "100k", "1m") if f"results_cpu_ms_{label}" in summary),
        *((f"poll p99 ms at {label} votes", str(summary[f"poll_p99_ms_{label}"]), "")
          for label in ("1k", "100k", "1m") if f"poll_p99_ms_{label}" in summary),
        ("freshness p50 / p99 ms", f"{summary['freshness_p50_ms']} / {summary['freshness_p99_ms']}", "p99 < 250"),
        ("total_votes' lag: relay / consumer p99 ms",
         f"{summary['relay_p99_ms']} / {summary['consumer_p99_ms']}", ""),
        ("accepted = results total = total_votes", str(summary["tallies_consistent"]), "True"),
        ("load average (1 min) during phase 1", "-".join(str(v) for v in summary["load_average_range"]), ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}} | {'measured':<32} | target")
    print("-" * (width + 48))
    for name, value, target in rows:
        print(f"{name:<{width}} | {value:<32} | {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_VOTES_PORT_BASE", 18400)),
                        help="gateway port; services on the next four, the monolith on +5 and its nginx on +10")
    parser.add_argument("--levels", default="8,32,64", help="concurrent connections of phase 1")
    parser.add_argument("--rounds", type=int, default=2, help="phase 1 runs per level and kind, alternating")
    parser.add_argument("--seconds", type=float, default=8, help="length of each load run")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="poll sizes of phase 2")
    parser.add_argument("--read-connections", type=int, default=16)
    parser.add_argument("--read-rate", type=float, default=200, help="reads/s offered for phase 2's latency")
    parser.add_argument("--freshness-level", type=int, help="connections of phase 3's load (default: the headline's)")
    parser.add_argument("--freshness-seconds", type=float, default=30)
    parser.add_argument("--voters", type=int, default=15000, help="voters per phase-1 run at most")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy vote-service's web processes, its relay and polls-service's consumer at the top level")
    args = parser.parse_args()
    args.levels = [int(v) for v in args.levels.split(",")]
    args.sizes = [int(v) for v in args.sizes.split(",")]
    if not (os.environ.get("DATABASE_URL") and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        raise SystemExit("needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS: eval \"$(bash infra/infra.sh up)\"")
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install -y wrk)")

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    for stale in WORK.glob("*.log"):
        stale.unlink()
    prefix = f"bench-votes-{uuid.uuid4().hex[:8]}."
    # Its processes stop with it, on SIGTERM and Ctrl-C too; an exit of any of them fails the run.
    supervisor = Supervisor(logs=WORK, backoff=None, voice="bench")
    with supervisor.stopping_on_signals():
        recreate_databases()
        platform = start_platform(supervisor, args.port_base, prefix)
        owner = Owner(platform)
        started = time.monotonic()
        tokens = make_voters(platform, args.voters + 2000, lifetime=3600)
        log(f"{len(tokens):,} voters with tokens in {time.monotonic() - started:.1f} s")
        tokens_file = WORK / "tokens.txt"
        tokens_file.write_text("\n".join(tokens[:args.voters]) + "\n")
        with httpx.Client(base_url=platform.gateway, timeout=30) as client:
            warm_up(platform, owner, tokens_file, client)
            viral = phase_viral(args, platform, owner, tokens_file, client, supervisor)
            level = args.freshness_level or headline_level(viral["runs"]["services"], args.levels)
            fresh = phase_freshness(args, platform, owner, tokens_file, tokens[args.voters:], client, level)
            reads = phase_reads(args, platform, owner, client, supervisor)
        supervisor.tick()
    summary = {**summarise(viral, reads, fresh, args.levels), "read_rate": args.read_rate}
    document = {**summary, "machine": {"cpus": os.cpu_count()}, "levels": args.levels,
                "chart_counts": {service.name: chart_counts(service) for service in SERVICES},
                "viral": viral, "freshness": fresh, "reads": reads,
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (RESULTS / "votes.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    for path in plot(viral, reads, args.levels):
        log(f"wrote {path.relative_to(ROOT)}")
    log(f"wrote {(RESULTS / 'votes.json').relative_to(ROOT)}")
    print_table(summary)


if __name__ == "__main__":
    main()
