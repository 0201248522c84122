"""The seams moved out of the monolith and back, under a steady load through the gateway (issue 21,
docs/migration.md): the single-codebase step (1b: each route on a process of its seam's settings module, then on
one process again), votes (steps 1-5), then choices and polls, each moved, brought back and moved again, ending at
today's platform. At each step no request fails, the monolith and vote-service count exactly the votes the
clients were answered 201 for, the monolith and each seam's service hold exactly the choices and polls the
clients created, nothing twice. Writes bench/results/migration.json and prints the table.

    make test-migration        (MIGRATION_PORT_BASE, default 28700: the gateway there, the processes above it)
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.supervisor import Supervisor
from tests.migration.load import Ballot, Load, Tally
from tests.migration.platform import (
    DATABASES,
    MONOLITH_DATABASE,
    POLLS_DATABASE,
    VOTE_DATABASE,
    WORK,
    Issuer,
    Migration,
    count_votes,
    dead_letters,
    held,
    polls_service_totals,
    recreate_databases,
    register_users,
    results_by_poll,
    rows_by_poll,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "migration.json"
STEP_SECONDS = float(os.environ.get("MIGRATION_STEP_SECONDS", "12"))
# The steps after the votes seam's: shorter, each a route moving under the same load.
SEAM_STEP_SECONDS = float(os.environ.get("MIGRATION_SEAM_STEP_SECONDS", "4"))
# What the owner creates while a seam moves: the kind, the service that takes it, its table and text column.
CREATED = {"choice": ("choice", "choices_choice", "text"), "poll": ("polls", "polls_poll", "question")}
VOTERS = 4000
POLLS, CHOICES = 4, 3
CONVERGE_SECONDS = 90


@pytest.fixture(scope="module")
def migration() -> Iterator[Migration]:
    shutil.rmtree(WORK, ignore_errors=True)  # the last run's logs, the gateway's access log included
    (WORK / "logs").mkdir(parents=True)
    supervisor = Supervisor(logs=WORK / "logs", backoff=None, voice="migration")
    recreate_databases()
    try:
        yield Migration(supervisor, int(os.environ.get("MIGRATION_PORT_BASE", "28700")), Issuer())
    finally:
        supervisor.stop_all()


def create_ballot(gateway: str, owner_token: str) -> Ballot:
    """A poll and its choices, created through the gateway by their owner."""
    headers = {"Authorization": f"Bearer {owner_token}"}
    with httpx.Client(base_url=gateway, timeout=30, headers=headers) as client:
        poll = client.post("/api/polls/", json={"question": "Which way?"}).raise_for_status().json()
        choices = [client.post("/api/choices/", json={"poll_id": poll["id"], "text": f"way {n}"})
                   .raise_for_status().json()["id"] for n in range(CHOICES)]
    return Ballot(poll["id"], choices)


def converge(condition: Callable[[], bool], what: str, load: Load) -> None:
    deadline = time.monotonic() + CONVERGE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {CONVERGE_SECONDS} s; the step's answers: "
                                 f"{dict(load.tally.statuses)}, failures: {load.tally.failures[:10]}")
        time.sleep(0.25)


def accepted_results(load: Load) -> dict[str, int]:
    per_poll: dict[str, int] = {}
    for poll_id, _ in load.accepted:
        per_poll[poll_id] = per_poll.get(poll_id, 0) + 1
    return per_poll


def poll_totals(results: dict[str, dict[str, int]]) -> dict[str, int]:
    return {poll_id: sum(choices.values()) for poll_id, choices in results.items()}


def test_the_seams_move_to_their_services_and_back_under_load(migration: Migration) -> None:
    owner, *voters = [str(uuid.uuid4()) for _ in range(VOTERS + 1)]
    owner_token, *tokens = migration.issuer.tokens([owner, *voters])

    # Step 1: the monolith as it always was, the gateway routing everything to it.
    migration.migrate_monolith()
    migration.deploy_monolith(events="off")
    ballots = [create_ballot(migration.gateway, owner_token) for _ in range(POLLS)]
    load = Load(migration.gateway, tokens, ballots)
    load.owner_token = owner_token
    load.start()
    steps: list[dict[str, Any]] = []
    up: set[str] = set()  # the seams' services started

    def step(name: str, action: Callable[[], None], *, seconds: float = STEP_SECONDS,
             moves: tuple[str, str] | None = None) -> None:
        """The load going, ``action`` in its middle, then the load paused and every side compared with what
        the clients were answered. ``moves``: the route (its writes' kind) the action moves, and to whom."""
        started = time.monotonic()
        tally = load.resume()
        time.sleep(seconds / 2)
        action()
        time.sleep(seconds / 2)
        load.pause()
        settle(name, load, up)
        steps.append({**row(name, tally, load, time.monotonic() - started, up), "moves": moves})

    # Step 1: nothing published yet.
    step("1 monolith only", lambda: None)
    # The intermediate step: one codebase, a process per seam (its settings module), each route moved to its own;
    # step 2's deploy brings the routes back to one process.
    step("1b a process per seam, one codebase", lambda: migration.split_monolith(events="off"),
         moves=("vote", "monolith-votes"))

    # Step 2: the monolith deployed again (blue/green behind the gateway) publishing through its outbox.
    def publish() -> None:
        migration.start_monolith_worker("relay", "publish")
        migration.deploy_monolith(events="publish")
        load.add_ballot(create_ballot(migration.gateway, owner_token))

    step("2 monolith publishes", publish)

    # Step 3 of a seam: its service started, backfilled from what the monolith holds, then fed live: a shadow.
    def shadow(*services: str) -> Callable[[], None]:
        def start() -> None:
            migration.start_services(*services)
            register_users([owner, *voters], tuple(DATABASES[service] for service in services))
            up.update(services)
            migration.manage_monolith("monolith_backfill")

        return start

    step("3 vote-service backfilled, in shadow", shadow("vote"))

    # Step 4: /api/votes/ moves to vote-service by a reload; the monolith counts vote-service's vote.cast.
    def switch() -> None:
        migration.start_monolith_worker("consumer", "consume")
        migration.route({"vote": migration.url("vote")})
        load.add_ballot(create_ballot(migration.gateway, owner_token))

    step("4 /api/votes/ to vote-service", switch, moves=("vote", "vote-service"))

    def route(service: str, to: str) -> Callable[[], None]:
        return lambda: migration.route({service: migration.url(service) if to != "monolith" else migration.monolith_url()})

    # Step 5, the way back: the route returns to the monolith, which holds every vote cast in vote-service.
    step("5 back to the monolith", route("vote", "monolith"), moves=("vote", "monolith"))
    step("6 /api/votes/ to vote-service again", route("vote", "vote-service"), seconds=SEAM_STEP_SECONDS,
         moves=("vote", "vote-service"))

    # The other seams the same way, choices then polls, the owner creating both meanwhile: their services in
    # shadow together (one start, one backfill), then each route moved, back and again; the monolith consumes the
    # services' events back, so each way back finds what the service took.
    load.creating = tuple(CREATED)
    step("7 choice-service and polls-service backfilled, in shadow", shadow("choice", "polls"),
         seconds=SEAM_STEP_SECONDS)
    number = 8
    for kind, (service, _, _) in CREATED.items():
        prefix = f"/api/{kind}s/"
        for name, to in ((f"{prefix} to {service}-service", f"{service}-service"),
                         (f"{prefix} back to the monolith", "monolith"),
                         (f"{prefix} to {service}-service again", f"{service}-service")):
            step(f"{number} {name}", route(service, to), seconds=SEAM_STEP_SECONDS, moves=(kind, to))
            number += 1
    load.stop()

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"steps": steps, "step_seconds": STEP_SECONDS, "seam_step_seconds": SEAM_STEP_SECONDS,
                                   "load": {"clients": load.threads, "requests_per_s_each": 1 / load.interval,
                                            "reads_per_vote": load.reads_per_vote}}, indent=2) + "\n")
    print_table(steps)
    # Today's platform: every route on its own service.
    assert migration.routes == {name: migration.url(name) for name in DATABASES}, migration.routes
    check(steps)


def settle(name: str, load: Load, up: set[str]) -> None:
    """Waits for every side started (``up``) to hold what the clients were answered 201 for."""
    expected = len(load.accepted)
    converge(lambda: count_votes(MONOLITH_DATABASE)["voters"] == expected, f"{name}: the monolith's count", load)
    if "vote" in up:
        converge(lambda: count_votes(VOTE_DATABASE)["voters"] == expected, f"{name}: vote-service's count", load)
        # The shadow check: vote-service's results are the monolith's, poll by poll and choice by choice.
        converge(lambda: results_by_poll(VOTE_DATABASE) == results_by_poll(MONOLITH_DATABASE),
                 f"{name}: vote-service's results against the monolith's", load)
    if "polls" in up:
        # Its pages' total_votes: every vote accepted, the monolith's too (vote-service announces those once).
        converge(lambda: polls_service_totals() == accepted_results(load), f"{name}: polls-service's totals", load)
        # The monolith's vote.cast, believed, are acknowledged without counting: nothing for an operator to skip.
        assert dead_letters(POLLS_DATABASE) == [], f"{name}: polls-service's dead letters"
    for kind, (service, table, _) in CREATED.items():
        if service in up:
            # Its shadow check: the service holds what the monolith holds, and the other way round.
            converge(lambda: rows_by_poll(DATABASES[service], table) == rows_by_poll(MONOLITH_DATABASE, table),
                     f"{name}: {service}'s {kind}s against the monolith's", load)


def check(steps: list[dict[str, Any]]) -> None:
    # The routes really moved, and back: vote-service took no vote before step 4, and the last write of a route
    # in a step that moved it (in its middle) was taken where it went.
    before = steps[:[entry["step"] for entry in steps].index("4 /api/votes/ to vote-service")]
    assert [entry["taken_by"]["vote"].get("vote-service", 0) for entry in before] == [0] * len(before), before
    for entry in steps:
        if entry["moves"]:
            route, to = entry["moves"]
            assert entry["last_taken_by"][route] == to, entry
    for entry in steps:
        assert entry["failed"] == 0, entry
        assert entry["double_counted"] == 0, entry
        assert entry["monolith_total"] == entry["votes_accepted"], entry
        for side in ("vote_service_total", "polls_service_total"):
            assert entry[side] in (None, entry["votes_accepted"]), entry
        for kind in CREATED:
            created, *sides = entry[f"{kind}s"]
            assert all(side in (None, created) for side in sides), entry


def row(name: str, tally: Tally, load: Load, seconds: float, up: set[str]) -> dict[str, Any]:
    monolith = count_votes(MONOLITH_DATABASE)
    votes = count_votes(VOTE_DATABASE) if "vote" in up else None
    expected = accepted_results(load)
    # Counted twice: a side whose tallies, poll totals or rows exceed the voters it holds, or a side holding a
    # poll's votes beyond what its clients were answered 201 for; or a choice or poll created once held twice.
    double = (monolith["tallied"] - monolith["voters"]) + (monolith["poll_totals"] - monolith["voters"]) \
        + (monolith["rows"] - monolith["voters"])
    double += sum(max(0, n - expected.get(p, 0)) for p, n in poll_totals(results_by_poll(MONOLITH_DATABASE)).items())
    if votes is not None:
        double += (votes["tallied"] - votes["voters"]) + (votes["rows"] - votes["voters"])
        double += sum(max(0, n - expected.get(p, 0)) for p, n in poll_totals(results_by_poll(VOTE_DATABASE)).items())
    entry = {
        "step": name,
        "requests": tally.requests,
        "failed": tally.failed,
        "votes_accepted": len(load.accepted),
        "monolith_total": monolith["voters"],
        "vote_service_total": votes["voters"] if votes is not None else None,
        "double_counted": double,
        "polls_service_total": sum(polls_service_totals().values()) if "polls" in up else None,
        "seconds": round(seconds, 1),
    }
    # Of the choices and polls the owner was answered 201 for: [created, held by the monolith, by the service].
    for kind, (service, table, text_column) in CREATED.items():
        created = load.created[kind]
        ids, texts = set(created), set(created.values())
        counts: list[int | None] = [len(created)]
        for database in (MONOLITH_DATABASE, DATABASES[service] if service in up else None):
            if database is None:
                counts.append(None)
                continue
            found, twice = held(database, table, ids, text_column, texts)
            counts.append(found)
            entry["double_counted"] += twice
        entry[f"{kind}s"] = counts
    entry.update({
        "taken_by": {route: taken_by(path) for route, path in ROUTES.items()},
        "last_taken_by": {route: taken_by(path, last=True) for route, path in ROUTES.items()},
        "retried": tally.retried,
        "resent_with_same_key": tally.resent,
        "resent_answered_anew": tally.resent_answered_anew,
        "statuses": dict(sorted(tally.statuses.items())),
    })
    if tally.failures:
        entry["failures"] = tally.failures[:10]
    return entry


# The writes of each route, as the gateway's access log names them.
ROUTES = {"vote": "/api/votes/", "choice": "/api/choices/", "poll": "/api/polls/"}
SERVICE_PORTS = {3: "vote-service", 4: "choice-service", 5: "polls-service", 6: "monolith-polls",
                 7: "monolith-choices", 8: "monolith-votes"}


def taken_by(path: str, *, last: bool = False) -> Any:
    """The gateway's answered writes to ``path`` so far, by the upstream that took them (its access log); or
    which took the last."""
    taken: dict[str, int] = {}
    name = ""
    log = WORK / "gateway" / "access.log"
    base = int(os.environ.get("MIGRATION_PORT_BASE", "28700"))
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        if entry["method"] == "POST" and entry["path"] == path and entry["status"] == 201:
            name = SERVICE_PORTS.get(int(entry["upstream"].rsplit(":", 1)[-1]) - base, "monolith")
            taken[name] = taken.get(name, 0) + 1
    return name if last else taken


def print_table(steps: list[dict[str, Any]]) -> None:
    """Choices and polls as created/held by the monolith/held by their service (- before it started)."""
    columns = ["step", "requests", "failed", "votes_accepted", "monolith_total", "vote_service_total",
               "polls_service_total", "double_counted", "seconds", "choices", "polls"]

    def cell(value: Any) -> str:
        if isinstance(value, list):
            return "/".join("-" if n is None else str(n) for n in value)
        return "-" if value is None else str(value)

    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for entry in steps:
        print("| " + " | ".join(cell(entry[c]) for c in columns) + " |")
