"""The votes seam moved out of the monolith and back, under a steady load through the gateway (issue 21,
docs/migration.md): at each step no request fails, the monolith and vote-service count exactly the votes the
clients were answered 201 for, nothing twice. Writes bench/results/migration.json and prints the table.

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
    MONOLITH_DATABASE,
    VOTE_DATABASE,
    WORK,
    Issuer,
    Migration,
    count_votes,
    recreate_databases,
    register_users,
    results_by_poll,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "migration.json"
STEP_SECONDS = float(os.environ.get("MIGRATION_STEP_SECONDS", "12"))
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


def converge(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CONVERGE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {CONVERGE_SECONDS} s")
        time.sleep(0.25)


def accepted_results(load: Load) -> dict[str, int]:
    per_poll: dict[str, int] = {}
    for poll_id, _ in load.accepted:
        per_poll[poll_id] = per_poll.get(poll_id, 0) + 1
    return per_poll


def poll_totals(results: dict[str, dict[str, int]]) -> dict[str, int]:
    return {poll_id: sum(choices.values()) for poll_id, choices in results.items()}


def test_the_votes_seam_moves_to_vote_service_and_back_under_load(migration: Migration) -> None:
    owner, *voters = [str(uuid.uuid4()) for _ in range(VOTERS + 1)]
    owner_token, *tokens = migration.issuer.tokens([owner, *voters])

    # Step 1: the monolith as it always was, the gateway routing everything to it.
    migration.migrate_monolith()
    migration.deploy_monolith(events="off")
    ballots = [create_ballot(migration.gateway, owner_token) for _ in range(POLLS)]
    load = Load(migration.gateway, tokens, ballots)
    load.start()
    steps: list[dict[str, Any]] = []
    vote_service_up = False

    def step(name: str, action: Callable[[], None], *, shadow: bool) -> None:
        """The load going, ``action`` in its middle, then the load paused and both sides compared with what
        the clients were answered."""
        started = time.monotonic()
        tally = load.resume()
        time.sleep(STEP_SECONDS / 2)
        action()
        time.sleep(STEP_SECONDS / 2)
        load.pause()
        expected = len(load.accepted)
        converge(lambda: count_votes(MONOLITH_DATABASE)["voters"] == expected, f"{name}: the monolith's count")
        if shadow:
            converge(lambda: count_votes(VOTE_DATABASE)["voters"] == expected, f"{name}: vote-service's count")
            # The shadow check: vote-service's results are the monolith's, poll by poll and choice by choice.
            converge(lambda: results_by_poll(VOTE_DATABASE) == results_by_poll(MONOLITH_DATABASE),
                     f"{name}: vote-service's results against the monolith's")
        steps.append(row(name, tally, load, time.monotonic() - started, shadow=vote_service_up))

    # Step 1: nothing published yet.
    step("1 monolith only", lambda: None, shadow=False)

    # Step 2: the monolith deployed again (blue/green behind the gateway) publishing through its outbox.
    def publish() -> None:
        migration.start_monolith_worker("relay", "publish")
        migration.deploy_monolith(events="publish")
        load.add_ballot(create_ballot(migration.gateway, owner_token))

    step("2 monolith publishes", publish, shadow=False)

    # Step 3: vote-service started, backfilled from what the monolith holds, then fed live: a shadow.
    def shadow() -> None:
        nonlocal vote_service_up
        migration.start_vote_service()
        register_users([owner, *voters], (VOTE_DATABASE,))
        vote_service_up = True
        migration.manage_monolith("monolith_backfill")

    step("3 vote-service backfilled, in shadow", shadow, shadow=True)

    # Step 4: /api/votes/ moves to vote-service by a reload; the monolith counts vote-service's vote.cast.
    def switch() -> None:
        migration.start_monolith_worker("consumer", "consume")
        migration.route({"vote": f"http://127.0.0.1:{migration.port('vote')}"})
        load.add_ballot(create_ballot(migration.gateway, owner_token))

    step("4 /api/votes/ to vote-service", switch, shadow=True)

    # Step 5, the way back: the route returns to the monolith, which holds every vote cast in vote-service.
    step("5 back to the monolith", lambda: migration.route({"vote": migration.monolith_url()}), shadow=True)
    load.stop()

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"steps": steps, "step_seconds": STEP_SECONDS,
                                   "load": {"clients": load.threads, "requests_per_s_each": 1 / load.interval,
                                            "reads_per_vote": load.reads_per_vote}}, indent=2) + "\n")
    print_table(steps)
    # The route really moved, and back: vote-service took no vote before step 4, and the last of steps 4 and 5
    # (each moves the route in its middle) were taken by vote-service and the monolith.
    taken = [(entry["votes_taken_by"].get("vote-service", 0), entry["last_vote_taken_by"]) for entry in steps]
    assert taken[:3] == [(0, "monolith")] * 3 and taken[3][1] == "vote-service" and taken[4][1] == "monolith", taken
    for entry in steps:
        assert entry["failed"] == 0, entry
        assert entry["double_counted"] == 0, entry
        assert entry["monolith_total"] == entry["votes_accepted"], entry
        if entry["vote_service_total"] is not None:
            assert entry["vote_service_total"] == entry["votes_accepted"], entry


def row(name: str, tally: Tally, load: Load, seconds: float, *, shadow: bool) -> dict[str, Any]:
    monolith = count_votes(MONOLITH_DATABASE)
    votes = count_votes(VOTE_DATABASE) if shadow else None
    expected = accepted_results(load)
    # Counted twice: a side whose tallies, poll totals or rows exceed the voters it holds, or a side holding a
    # poll's votes beyond what its clients were answered 201 for.
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
        "seconds": round(seconds, 1),
        "votes_taken_by": votes_taken_by(),
        "last_vote_taken_by": votes_taken_by(last=True),
        "retried": tally.retried,
        "resent_with_same_key": tally.resent,
        "statuses": dict(sorted(tally.statuses.items())),
    }
    if tally.failures:
        entry["failures"] = tally.failures[:10]
    return entry


def votes_taken_by(*, last: bool = False) -> Any:
    """The gateway's answered votes so far, by the upstream that took them (its access log); or which took the
    last."""
    taken: dict[str, int] = {}
    name = ""
    log = WORK / "gateway" / "access.log"
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        if entry["method"] == "POST" and entry["path"] == "/api/votes/" and entry["status"] == 201:
            port = int(entry["upstream"].rsplit(":", 1)[-1])
            name = "vote-service" if port == int(os.environ.get("MIGRATION_PORT_BASE", "28700")) + 3 else "monolith"
            taken[name] = taken.get(name, 0) + 1
    return name if last else taken


def print_table(steps: list[dict[str, Any]]) -> None:
    columns = ["step", "requests", "failed", "votes_accepted", "monolith_total", "vote_service_total",
               "double_counted", "seconds"]
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for entry in steps:
        print("| " + " | ".join("-" if entry[c] is None else str(entry[c]) for c in columns) + " |")
