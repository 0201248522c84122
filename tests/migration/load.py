"""A steady, bounded load through the gateway, as clients make it: reads of polls and results, and votes, each from
a voter of its own holding its token, each vote with an Idempotency-Key that its retries keep (after an error or
a timeout, and now and then at once, as a client that lost the answer would); and, while a seam of choices or
polls moves, its owner creating choices or polls, so that the moving route carries writes."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

RETRIES = 5
RESEND_AT_ONCE = 0.1  # of votes, sent twice with one key as if the first answer was lost
CREATE_EVERY = 6  # while creating: one request in this many (in place of a read) creates a choice or a poll


@dataclass
class Ballot:
    poll_id: str
    choice_ids: list[str]


@dataclass
class Tally:
    """What the clients saw in one step."""

    requests: int = 0
    failed: int = 0
    retried: int = 0
    resent: int = 0
    resent_answered_anew: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


class Load:
    """``threads`` clients, each at most ``rate`` requests a second, one vote for every ``reads_per_vote`` reads."""

    def __init__(self, gateway: str, tokens: list[str] | list[tuple[str, Ballot]], ballots: list[Ballot], *, threads: int = 3,
                 rate: float = 8.0, reads_per_vote: int = 1) -> None:
        self.gateway, self.tokens, self.ballots = gateway, tokens, ballots
        self.threads, self.interval, self.reads_per_vote = threads, 1.0 / rate, reads_per_vote
        self.lock = threading.Lock()
        self.tally = Tally()
        # (poll, voter) -> the vote id of the answer kept: what was accepted, once each.
        self.accepted: dict[tuple[str, str], str] = {}
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.workers: list[threading.Thread] = []
        self.in_flight = 0
        # What the owner creates meanwhile ("choice", "poll", in turn), with the owner's token, and what was
        # created (answered 201): kind -> id -> its text, unique to it.
        self.creating: tuple[str, ...] = ()
        self.owner_token = ""
        self.created: dict[str, dict[str, str]] = {"choice": {}, "poll": {}}

    # Control

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._client, args=(n,), name=f"client-{n}", daemon=True)
            worker.start()
            self.workers.append(worker)

    def resume(self) -> Tally:
        """A fresh tally for the next step, the clients going."""
        with self.lock:
            self.tally = Tally()
        self.running.set()
        return self.tally

    def pause(self) -> None:
        """Every client idle at the end of its request (the step's counts then settle)."""
        self.running.clear()
        deadline = time.monotonic() + 120
        while True:
            with self.lock:
                if self.in_flight == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError("the clients did not finish their requests in 120 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.running.clear()
        self.stopped.set()
        for worker in self.workers:
            worker.join(30)

    def add_ballot(self, ballot: Ballot) -> None:
        with self.lock:
            self.ballots.append(ballot)

    # A client

    def _client(self, n: int) -> None:
        with httpx.Client(base_url=self.gateway, timeout=30) as client:
            sent = 0
            while not self.stopped.is_set():
                if not self.running.wait(0.2):
                    continue
                with self.lock:
                    if not self.running.is_set():
                        continue
                    self.in_flight += 1
                    token = self.tokens.pop() if sent % (self.reads_per_vote + 1) == 0 and self.tokens else None
                    ballot = random.choice(self.ballots)
                    if isinstance(token, tuple):  # a voter's token for one poll: a voter votes in several polls
                        token, ballot = token
                    creating = self.creating[sent // CREATE_EVERY % len(self.creating)] \
                        if self.creating and token is None and sent % CREATE_EVERY == CREATE_EVERY - 1 else None
                started = time.monotonic()
                try:
                    if creating is not None:
                        self._create(client, creating, ballot)
                    elif token is None:
                        self._read(client, ballot)
                    else:
                        self._vote(client, ballot, token)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                sent += 1
                time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: object) -> httpx.Response | str:
        """The request, retried as a client would on a transport error, a 502/503/504, or a 409 saying its
        Idempotency-Key's first request is still in flight (after a timeout: "retry shortly"); the last answer,
        or the last error as text."""
        outcome: httpx.Response | str = ""
        for attempt in range(RETRIES):
            if attempt:
                with self.lock:
                    self.tally.retried += 1
                time.sleep(0.2 * 2 ** attempt)
            try:
                outcome = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as error:
                outcome = f"{type(error).__name__}: {error}"
                continue
            if outcome.status_code not in (502, 503, 504) and not _in_flight(outcome):
                return outcome
        return outcome

    def _record(self, what: str, outcome: httpx.Response | str, ok: bool) -> None:
        with self.lock:
            self.tally.requests += 1
            status = outcome if isinstance(outcome, str) else str(outcome.status_code)
            self.tally.statuses[f"{what} {status}"] += 1
            if not ok:
                self.tally.failed += 1
                body = outcome if isinstance(outcome, str) else outcome.text[:300]
                self.tally.failures.append(f"{what}: {status} {body}")

    def _read(self, client: httpx.Client, ballot: Ballot) -> None:
        path = random.choice([f"/api/polls/{ballot.poll_id}/", f"/api/votes/results/{ballot.poll_id}/"])
        outcome = self._send(client, "GET", path)
        self._record("read", outcome, isinstance(outcome, httpx.Response) and outcome.status_code == 200)

    def _create(self, client: httpx.Client, kind: str, ballot: Ballot) -> None:
        """A choice in one of the ballots' polls, or a poll, by their owner; its text unique, so that one created
        twice shows."""
        text = f"{kind} {uuid.uuid4()}"
        path, body = ("/api/choices/", {"poll_id": ballot.poll_id, "text": text}) if kind == "choice" \
            else ("/api/polls/", {"question": text})
        outcome = self._send(client, "POST", path, json=body, headers={"Authorization": f"Bearer {self.owner_token}"})
        ok = isinstance(outcome, httpx.Response) and outcome.status_code == 201
        self._record(kind, outcome, ok)
        if ok:
            assert isinstance(outcome, httpx.Response)
            with self.lock:
                self.created[kind][outcome.json()["id"]] = text

    def _vote(self, client: httpx.Client, ballot: Ballot, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        body = {"poll_id": ballot.poll_id, "choice_id": random.choice(ballot.choice_ids)}
        outcome = self._send(client, "POST", "/api/votes/", json=body, headers=headers)
        ok = isinstance(outcome, httpx.Response) and outcome.status_code == 201
        if ok and random.random() < RESEND_AT_ONCE:
            # The answer "lost": the same key again must give the same vote, or say it is there already.
            with self.lock:
                self.tally.resent += 1
            again = self._send(client, "POST", "/api/votes/", json=body, headers=headers)
            same = isinstance(again, httpx.Response) and (
                (again.status_code == 201 and again.json()["id"] == outcome.json()["id"])  # type: ignore[union-attr]
                or (again.status_code == 409 and again.json().get("error") == "already_voted"))
            if not same and isinstance(again, httpx.Response) and again.status_code == 201:
                # The route moved between the two sends: the other side keeps no record of the key (each keeps
                # its own) and had not applied the first vote's event yet, so it took the vote under another id.
                # Both sides still count the voter once (double_counted says so); the step reports how often.
                with self.lock:
                    self.tally.resent_answered_anew += 1
                self._record("vote resent, answered anew by the other side", again, True)
            else:
                self._record("vote resent", again, same)
        self._record("vote", outcome, ok)
        if ok:
            assert isinstance(outcome, httpx.Response)
            vote = outcome.json()
            with self.lock:
                self.accepted[(vote["poll_id"], vote["voter_id"])] = vote["id"]


def _in_flight(answer: httpx.Response) -> bool:
    return answer.status_code == 409 and answer.headers.get("content-type", "").startswith("application/json") \
        and answer.json().get("error") == "idempotency_key_in_flight"
