"""A steady, bounded vote load through the gateway, sent as real clients send it.

Each voter is a registered user with its own client address (a loopback address of its own, so the gateway's
per-address limits apply to it as to a person). A vote is one Idempotency-Key, retried with backoff on
connection errors, 5xx, 429 (after Retry-After) and 409 "in flight" until it gets an answer; an expired access
token is refreshed and the vote sent again.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

PASSWORD = "a-long-password-42"
# Long enough to outlast an abandoned Idempotency-Key (the kit takes it over after 60 s) and a broker outage.
GIVE_UP_AFTER = 180.0


@dataclass
class Voter:
    username: str
    address: str
    access: str = ""
    refresh: str = ""

    def client(self, gateway: str) -> httpx.AsyncClient:
        # Plain HTTP: without verify=False each transport would load the CA bundle, seconds for a few hundred.
        transport = httpx.AsyncHTTPTransport(local_address=self.address, verify=False)
        return httpx.AsyncClient(base_url=gateway, transport=transport, timeout=15)


@dataclass
class PollUnderLoad:
    id: str
    choices: list[str]


@dataclass
class Outcome:
    sent: int = 0  # votes sent, each with an Idempotency-Key of its own
    accepted: set[str] = field(default_factory=set)  # vote ids the client was given
    replayed: int = 0  # 201s that were a stored answer replayed for a retried Idempotency-Key
    retries: int = 0
    already_voted: int = 0  # 409 already_voted for a vote this client never saw accepted
    refused: list[str] = field(default_factory=list)  # any other final answer
    gave_up: int = 0


async def _until_answered(send: Callable[[], Awaitable[httpx.Response]], outcome: Outcome | None = None) -> httpx.Response:
    """Sends until the answer is neither a transport error, a 5xx, a 429 nor a 409 in flight."""
    deadline = time.monotonic() + GIVE_UP_AFTER
    delay = 0.25
    while True:
        response: httpx.Response | None
        try:
            response = await send()
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500 and response.status_code != 429 and not _in_flight(response):
            return response
        if time.monotonic() > deadline:
            raise TimeoutError("no answer")
        if outcome is not None:
            outcome.retries += 1
        wait = delay
        if response is not None and response.status_code == 429:
            wait = float(response.headers.get("Retry-After", 1))
        await asyncio.sleep(wait * random.uniform(0.8, 1.2))
        delay = min(delay * 2, 4.0)


def _in_flight(response: httpx.Response) -> bool:
    return response.status_code == 409 and _error(response) == "idempotency_key_in_flight"


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


async def log_in(client: httpx.AsyncClient, voter: Voter) -> None:
    credentials = {"username": voter.username, "password": PASSWORD}
    tokens = await _until_answered(lambda: client.post("/api/auth/token/", json=credentials))
    tokens.raise_for_status()
    voter.access, voter.refresh = tokens.json()["access"], tokens.json()["refresh"]


async def register(client: httpx.AsyncClient, voter: Voter) -> None:
    credentials = {"username": voter.username, "password": PASSWORD}
    registered = await _until_answered(lambda: client.post("/api/auth/register/", json=credentials))
    if registered.status_code not in (201, 400):  # 400: taken, i.e. a retry whose first answer was lost
        registered.raise_for_status()
    await log_in(client, voter)


async def _refresh(client: httpx.AsyncClient, voter: Voter) -> None:
    refreshed = await _until_answered(lambda: client.post("/api/auth/token/refresh/", json={"refresh": voter.refresh}))
    if refreshed.status_code == 200:
        voter.access, voter.refresh = refreshed.json()["access"], refreshed.json()["refresh"]
    else:
        await log_in(client, voter)


async def cast(client: httpx.AsyncClient, voter: Voter, poll: PollUnderLoad, choice: str, outcome: Outcome) -> None:
    key = uuid.uuid4().hex
    body = {"poll_id": poll.id, "choice_id": choice}
    for _ in range(3):  # the access token may expire between two attempts
        try:
            response = await _until_answered(
                lambda: client.post("/api/votes/", json=body,
                                    headers={"Authorization": f"Bearer {voter.access}", "Idempotency-Key": key}),
                outcome,
            )
        except TimeoutError:
            outcome.gave_up += 1
            return
        if response.status_code == 401:
            await _refresh(client, voter)
            continue
        if response.status_code == 201:
            outcome.accepted.add(response.json()["id"])
            outcome.replayed += response.headers.get("Idempotent-Replayed") == "true"
        elif response.status_code == 409 and _error(response) == "already_voted":
            outcome.already_voted += 1
        else:
            outcome.refused.append(f"{response.status_code} {response.text[:200]}")
        return
    outcome.refused.append("401 after refreshing the token")


def make_voters(count: int) -> list[Voter]:
    run = uuid.uuid4().hex[:6]
    return [Voter(f"voter-{run}-{i}", f"127.77.{i // 250}.{i % 250 + 1}") for i in range(count)]


async def _each(voters: list[Voter], gateway: str, action: Callable[[httpx.AsyncClient, Voter], Awaitable[None]],
                parallel: int) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(voter: Voter) -> None:
        async with gate, voter.client(gateway) as client:
            await action(client, voter)

    await asyncio.gather(*(one(v) for v in voters))


def register_all(voters: list[Voter], gateway: str, parallel: int = 16) -> None:
    asyncio.run(_each(voters, gateway, register, parallel))


class Load:
    """Casts `rate` votes a second in a thread of its own until stopped: voter i % V votes in poll i // V."""

    def __init__(self, voters: list[Voter], gateway: str, polls: list[PollUnderLoad], rate: float) -> None:
        self.voters, self.gateway, self.polls, self.rate = voters, gateway, polls, rate
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._flowing = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        """Returns once the first vote is on its way."""
        self._thread.start()
        self._flowing.wait()

    def stop(self) -> Outcome:
        """Sends no new vote, and returns once every vote sent has its final answer."""
        self._stop.set()
        self._thread.join()
        return self.outcome

    async def _run(self) -> None:
        clients = [v.client(self.gateway) for v in self.voters]
        tasks = []
        started = time.monotonic()
        self._flowing.set()
        try:
            for i in range(len(self.voters) * len(self.polls)):
                await asyncio.sleep(max(0.0, started + i / self.rate - time.monotonic()))
                if self._stop.is_set():
                    break
                voter, poll = i % len(self.voters), self.polls[i // len(self.voters)]
                choice = poll.choices[i % len(poll.choices)]
                tasks.append(asyncio.create_task(cast(clients[voter], self.voters[voter], poll, choice, self.outcome)))
                self.outcome.sent += 1
            await asyncio.gather(*tasks)
        finally:
            self._flowing.set()
            await asyncio.gather(*(c.aclose() for c in clients))
