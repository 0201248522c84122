"""Nobody holds the services' threads on someone else's behalf: far more requests for ids nobody created than a web
process has threads, sent at once through each gateway while votes flow, leave every vote answered 201 and are
themselves answered at once with a 4xx or 503 overloaded (issue 17, finding 1). How fast is the benchmark's business
(`make bench-exhaustion`); here, only that nothing waited for the gateway's timeout."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_kit.asgi import WEB_THREADS

from gateway.table import load
from tests.security.conftest import LIMITS_ON, Platform, User, assert_json_error, client, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
ATTACK = 10 * WEB_THREADS
# The attack comes from this many addresses, so that the gateway's limit per address lets most of it through to
# the services: their own bound is under test too, not only the gateway's.
ATTACK_ADDRESSES = 10
VOTERS = 6
GATEWAY_TIMEOUT = load(environ={}).read_timeout
# The answers an attack may get: the id is unknown (at once, or after a bounded wait for a signed-in caller), the
# gateway refused one request more in flight from the same address, or the web process refused one that waited for
# a thread past WEB_QUEUE_SECONDS (503 overloaded).
ATTACK_ANSWERS = {"poll_not_known", "rate_limited", "overloaded"}


def _subnet(platform: Platform, gateway_url: str, signed_in: bool) -> str:
    return f"127.{20 + (gateway_url == platform.url) * 2 + signed_in}"


def _voters(url: str, subnet: str) -> tuple[list[tuple[User, str]], str, list[str]]:
    """Voters known to vote-service (a first vote went through), each with an address of its own, and a poll with
    two choices none of them voted in yet."""
    owner_source = f"{subnet}.0.1"
    owner = fresh_user(url, owner_source)
    with client(url, owner_source) as http:
        polls = []
        for question in ("warm-up", "under attack"):
            poll_id = http.post("/api/polls/", json={"question": question}, headers=owner.authorization).json()["id"]
            choices = [http.post("/api/choices/", json={"poll_id": poll_id, "text": text},
                                 headers=owner.authorization).json()["id"] for text in ("yes", "no")]
            polls.append((poll_id, choices))
    voters = [(fresh_user(url, f"{subnet}.1.{n}"), f"{subnet}.1.{n}") for n in range(1, VOTERS + 1)]
    warm_up, choices = polls[0]
    for voter, source in voters:
        _eventually_201(url, source, voter, warm_up, choices[0])
    return voters, *polls[1]


def _eventually_201(url: str, source: str, voter: User, poll_id: str, choice_id: str) -> None:
    """vote-service learns of a user, a poll and its choices through events: a 401 or 404 until then."""
    deadline = time.monotonic() + 120
    with client(url, source) as http:
        while True:
            vote = http.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_id}, headers=voter.authorization)
            if vote.status_code == 201:
                return
            assert vote.status_code in (401, 404) and time.monotonic() < deadline, vote.text
            time.sleep(0.3)


def _known_everywhere(url: str, source: str, user: User, poll_id: str) -> None:
    """choice-service and vote-service have heard of the user (else their answer would be a 401, no wait)."""
    deadline = time.monotonic() + 120
    with client(url, source) as http:
        for path in (f"/api/votes/results/{poll_id}/", f"/api/choices/?poll_id={poll_id}"):
            while (status := http.get(path, headers=user.authorization).status_code) != 200:
                assert status == 401 and time.monotonic() < deadline, status
                time.sleep(0.3)


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_requests_for_unknown_ids_neither_stall_the_votes_nor_wait_themselves(
    platform: Platform, gateway_url: str, signed_in: bool
):
    subnet = _subnet(platform, gateway_url, signed_in)
    voters, poll_id, choices = _voters(gateway_url, subnet)
    headers: dict[str, str] = {}
    if signed_in:
        attacker = fresh_user(gateway_url, f"{subnet}.0.2")
        _known_everywhere(gateway_url, f"{subnet}.0.2", attacker, poll_id)
        headers = attacker.authorization
    together = threading.Barrier(ATTACK + 1)

    def unknown_id(number: int) -> tuple[httpx.Response, float]:
        path = f"/api/votes/results/{uuid.uuid4()}/" if number % 2 else f"/api/choices/?poll_id={uuid.uuid4()}"
        with client(gateway_url, f"{subnet}.2.{1 + number % ATTACK_ADDRESSES}") as http:
            http.get("/healthz")  # connected before the barrier
            together.wait()
            started = time.monotonic()
            return http.get(path, headers=headers), time.monotonic() - started

    def vote(number: int) -> tuple[httpx.Response, float]:
        voter, source = voters[number]
        with client(gateway_url, source) as http:
            started = time.monotonic()
            body = {"poll_id": poll_id, "choice_id": choices[number % 2]}
            return http.post("/api/votes/", json=body, headers=voter.authorization), time.monotonic() - started

    with ThreadPoolExecutor(ATTACK) as attack, ThreadPoolExecutor(VOTERS) as votes:
        attacked = [attack.submit(unknown_id, number) for number in range(ATTACK)]
        together.wait()
        time.sleep(0.2)  # the attack in flight
        voted = [votes.submit(vote, number) for number in range(VOTERS)]
        attacks = [future.result() for future in attacked]
        cast = [future.result() for future in voted]

    assert [response.status_code for response, _ in cast] == [201] * VOTERS, [r.text for r, _ in cast]
    codes = [assert_json_error(response, 503 if response.status_code == 503 else None) for response, _ in attacks]
    assert set(codes) <= ATTACK_ANSWERS, codes
    slowest = max(elapsed for _, elapsed in attacks + cast)
    assert slowest < GATEWAY_TIMEOUT, f"a request waited {slowest:.1f}s, the gateway's timeout"
