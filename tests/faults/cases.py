"""One fault case: fresh polls, a steady vote load, the fault in the middle of it, then the reckoning.

After the load, every vote it sent has its final answer; the case then waits for the counts to agree and
measures how long that took: votes accepted (the 201s the clients got) = vote-service's vote rows = its results
total = polls-service's `total_votes`, and each accepted vote's event in polls-service's inbox exactly once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka import Consumer as KafkaConsumer

from tests.faults.load import PASSWORD, Load, Outcome, PollUnderLoad, Voter
from tests.faults.make_run import MakeRun
from tests.faults.platform import PARTITIONED, SERVICES, Platform, answers, wait_until

LOAD_BEFORE = 5.0  # seconds of load before the fault, and after it is repaired
CONVERGE_WITHIN = 180.0
TALLY_SUBSCRIBER = "PollTallyProjection"


class Target(Protocol):
    """A platform the cases strike: the suite's own (platform.py) or `make run` itself (make_run.py)."""

    name: str
    gateway: str
    bootstrap: str
    vote_topic: str
    rate: float  # votes per second of its load

    def kill(self, name: str) -> None: ...

    def restarts(self) -> dict[str, int]: ...

    def events(self) -> list[str]: ...

    def vote_counts(self, poll_ids: list[str], subscriber: str) -> tuple[int, int]: ...


Fault = Callable[[Any], None]


@dataclass
class Owner:
    """The user who creates each case's polls."""

    gateway: str
    username: str

    @classmethod
    def registered(cls, gateway: str) -> Owner:
        owner = cls(gateway, f"owner-{uuid.uuid4().hex[:6]}")
        with owner._client() as client:
            response = client.post("/api/auth/register/", json=owner._credentials())
            assert response.status_code == 201, response.text
        return owner

    def _credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": PASSWORD}

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=15, transport=httpx.HTTPTransport(local_address="127.78.0.1"))

    def create_polls(self, count: int) -> list[PollUnderLoad]:
        with self._client() as client:
            tokens = answered(lambda: client.post("/api/auth/token/", json=self._credentials()))
            assert tokens.status_code == 200, tokens.text
            client.headers["Authorization"] = f"Bearer {tokens.json()['access']}"
            return [self._create_poll(client, n) for n in range(count)]

    def _create_poll(self, client: httpx.Client, n: int) -> PollUnderLoad:
        # A retried POST may create a second poll nobody votes in: harmless, each case counts its own polls.
        poll = answered(lambda: client.post("/api/polls/", json={"question": f"Fault case poll {n}?"}))
        assert poll.status_code == 201, poll.text
        poll_id = poll.json()["id"]
        choices = []
        for text in ("Yes", "No", "Maybe"):
            created = answered(lambda: client.post("/api/choices/", json={"poll_id": poll_id, "text": text}), also=(404,))
            assert created.status_code == 201, created.text
            choices.append(created.json()["id"])
        wait_until(lambda: len(_results(client, poll_id).get("choices", [])) == len(choices), 240,
                   "vote-service to know the choices")
        return PollUnderLoad(poll_id, choices)


def answered(send: Callable[[], httpx.Response], also: tuple[int, ...] = (), timeout: float = 240.0) -> httpx.Response:
    """Sends until the answer is final, as a client does after a fault: a connection error or a 5xx (a database
    connection the server dropped fails one request), a 429 (then as told), or a status in ``also`` (404: a
    service learns of a new poll through its event) is tried again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = send()
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500 and response.status_code not in (429, *also):
            return response
        if time.monotonic() > deadline:
            raise TimeoutError(f"no final answer within {timeout:.0f}s: {response.status_code if response else 'no connection'}")
        time.sleep(float(response.headers.get("Retry-After", 0.5)) if response is not None else 0.5)


def _results(client: httpx.Client, poll_id: str) -> dict:  # type: ignore[type-arg]
    response = answered(lambda: client.get(f"/api/votes/results/{poll_id}/"), timeout=60)
    return response.json() if response.status_code == 200 else {}


@dataclass
class Counts:
    vote_rows: int
    results_total: int
    total_votes: int
    tally_inbox: int  # accepted votes' events recorded once in polls-service's inbox

    def agree(self, accepted: int) -> bool:
        return self.vote_rows == self.results_total == self.total_votes == self.tally_inbox == accepted


def count(platform: Target, polls: list[PollUnderLoad]) -> Counts:
    ids = [p.id for p in polls]
    vote_rows, tally_inbox = platform.vote_counts(ids, TALLY_SUBSCRIBER)
    with httpx.Client(base_url=platform.gateway, timeout=15) as client:
        results_total = sum(_results(client, p).get("total", 0) for p in ids)
        total_votes = sum(answered(lambda: client.get(f"/api/polls/{p}/"), timeout=60).json()["total_votes"] for p in ids)
    return Counts(vote_rows, results_total, total_votes, tally_inbox)


def duplicates_in_log(platform: Target, polls: list[PollUnderLoad]) -> int:
    """vote.cast messages of these polls that repeat an event id already in the topic: resent, to be applied once."""
    keys = {p.id.encode() for p in polls}
    reader = KafkaConsumer({"bootstrap.servers": platform.bootstrap, "group.id": f"faults-{uuid.uuid4()}",
                            "enable.auto.commit": False})
    try:
        vote_topic = platform.vote_topic
        topic = reader.list_topics(vote_topic, timeout=10).topics[vote_topic]
        ends = {p: reader.get_watermark_offsets(TopicPartition(vote_topic, p), timeout=10)[1] for p in topic.partitions}
        reader.assign([TopicPartition(vote_topic, p, OFFSET_BEGINNING) for p in ends])
        seen: list[bytes] = []
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for message in reader.consume(500, 5.0):
                if message.error() is not None:
                    continue
                if message.key() in keys:
                    seen.append(dict(message.headers() or [])["event_id"])
                if message.offset() + 1 >= ends[message.partition()]:
                    remaining.discard(message.partition())
    finally:
        reader.close()
    return len(seen) - len(set(seen))


@dataclass
class CaseResult:
    case: str
    accepted: int
    counts: Counts
    converge_seconds: float | None
    outcome: Outcome
    duplicates_in_log: int
    restarts: dict[str, int] = field(default_factory=dict)
    supervisor_events: list[str] = field(default_factory=list)
    platform: str = ""
    rate: float = 0.0
    case_seconds: float = 0.0  # the whole case: polls, load, fault, convergence

    @property
    def lost(self) -> int:
        return max(0, self.accepted - self.counts.total_votes) + max(0, self.accepted - self.counts.results_total)

    @property
    def applied_twice(self) -> int:
        # Every increment of total_votes beyond the events in the inbox, and every count above what was accepted.
        return max(0, self.counts.total_votes - self.counts.tally_inbox) + max(0, self.counts.total_votes - self.accepted)

    def row(self) -> dict[str, object]:
        return {
            "platform": self.platform, "case": self.case, "accepted": self.accepted, "results_total": self.counts.results_total,
            "total_votes": self.counts.total_votes, "lost": self.lost, "applied_twice": self.applied_twice,
            "duplicates_in_log": self.duplicates_in_log,
            "converge_seconds": None if self.converge_seconds is None else round(self.converge_seconds, 1),
            "retries": self.outcome.retries,
            "restarts": ",".join(f"{name}:{n}" for name, n in sorted(self.restarts.items())) or "-",
        }

    def details(self) -> dict[str, object]:
        return {
            "sent": self.outcome.sent, "vote_rows": self.counts.vote_rows, "tally_inbox": self.counts.tally_inbox,
            "replayed": self.outcome.replayed, "already_voted": self.outcome.already_voted,
            "refused": self.outcome.refused[:10], "gave_up": self.outcome.gave_up,
            "supervisor_events": self.supervisor_events, "rate_per_second": self.rate, "case_seconds": self.case_seconds,
        }


def run_case(platform: Target, voters: list[Voter], owner: Owner, name: str, fault: Fault, fault_seconds: float) -> CaseResult:
    began = time.monotonic()
    load_seconds = 2 * LOAD_BEFORE + fault_seconds
    polls = owner.create_polls(int(load_seconds * platform.rate // len(voters)) + 1)
    restarts_before = platform.restarts()
    events_before = len(platform.events())
    load = Load(voters, platform.gateway, polls, platform.rate)
    load.start()
    time.sleep(LOAD_BEFORE)  # the load's own pace: the fault strikes once votes are flowing
    fault(platform)
    time.sleep(LOAD_BEFORE)
    outcome = load.stop()
    answered = time.monotonic()
    accepted = len(outcome.accepted)
    converged: float | None = None
    deadline = answered + CONVERGE_WITHIN
    while True:
        counts = count(platform, polls)
        if counts.agree(accepted):
            converged = time.monotonic() - answered
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    restarts = {n: c - restarts_before.get(n, 0) for n, c in platform.restarts().items() if c > restarts_before.get(n, 0)}
    resent = duplicates_in_log(platform, polls)
    return CaseResult(name, accepted, counts, converged, outcome, resent, restarts, platform.events()[events_before:],
                      platform=platform.name, rate=platform.rate, case_seconds=round(time.monotonic() - began, 1))


def check(result: CaseResult) -> None:
    """Every vote sent got its answer, and the counts agree: none lost, none applied twice."""
    outcome = result.outcome
    assert outcome.gave_up == 0 and not outcome.refused and outcome.already_voted == 0, result.details()
    assert result.accepted == outcome.sent > 0, result.details()
    assert result.lost == 0, result.row() | result.details()
    assert result.applied_twice == 0, result.row() | result.details()
    assert result.converge_seconds is not None, f"the counts did not agree: {result.counts}"


# The faults. Each returns once the fault is repaired; the supervisor restarts what was killed, as Kubernetes would.


def sigkill(process: str, healthy: Callable[[Any], bool] | None = None) -> Fault:
    def fault(platform: Target) -> None:
        before = platform.restarts().get(process, 0)
        platform.kill(process)
        wait_until(lambda: platform.restarts().get(process, 0) > before, 120, f"{process} restarted")
        if healthy is not None:
            wait_until(lambda: healthy(platform), 60, f"{process} healthy")

    return fault


def vote_web_answers(platform: Any) -> bool:
    return answers(f"{platform.service_url('vote')}/healthz")


BROKER_DOWN_SECONDS = 10.0
DATABASE_DOWN_SECONDS = 10.0
PARTITION_SECONDS = 30.0


def broker_stop_start(platform: Platform) -> None:
    platform.infra.stop_kafka()
    time.sleep(BROKER_DOWN_SECONDS)  # the outage itself
    platform.infra.start_kafka()


def postgres_restart(platform: Platform) -> None:
    platform.infra.stop_postgres()
    time.sleep(DATABASE_DOWN_SECONDS)  # the outage itself, as long as a failover takes
    platform.infra.start_postgres()


def database_outage(database: str) -> Fault:
    """One service's database refuses every connection for a while (its server failing over), the others not."""

    def fault(platform: Platform) -> None:
        with platform.infra.connect("polls") as admin:
            admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database])
            try:
                time.sleep(DATABASE_DOWN_SECONDS)  # the outage itself
            finally:
                admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")

    return fault


def partition(platform: Platform) -> None:
    platform.infra.namespace.cut(platform.infra.kafka_port)
    try:
        time.sleep(PARTITION_SECONDS)  # the partition itself
    finally:
        platform.infra.namespace.heal()


def embedded_broker_sigkill(platform: MakeRun) -> None:
    said = len(platform.events())
    platform.kill("broker")
    # Its log was in memory: the relays start again sending their whole retained outbox, the consumers rejoin.
    wait_until(lambda: any("broker is back" in line for line in platform.events()[said:]), 120, "the broker back")


def supervisor_sigkill_and_start_again(platform: MakeRun) -> None:
    platform.kill_supervisor()  # everything it started dies with it
    platform.start()  # `make run` again, once more ready


# name -> (fault, roughly how long it lasts, for the load's length)
CASES: dict[str, tuple[Fault, float]] = {
    "relay SIGKILL": (sigkill("vote-relay"), 2.0),
    "consumer SIGKILL": (sigkill("polls-consumer"), 2.0),
    "web SIGKILL": (sigkill("vote-web", vote_web_answers), 5.0),
    "PostgreSQL restart": (postgres_restart, DATABASE_DOWN_SECONDS + 5.0),
    "polls database outage": (database_outage(SERVICES["polls"].database), DATABASE_DOWN_SECONDS),
    f"{PARTITIONED} partition": (partition, PARTITION_SECONDS),
    # Last: on a busy machine the groups can take minutes to settle after the broker is back.
    "Kafka stop+start": (broker_stop_start, BROKER_DOWN_SECONDS + 15.0),
}

# The same against `make run` itself. A PostgreSQL restart or a database outage has no server to strike on SQLite
# files, and a partition would need one supervised process moved into a network namespace: not these.
MAKE_RUN_CASES: dict[str, tuple[Fault, float]] = {
    "relay SIGKILL": (sigkill("vote-relay"), 2.0),
    "consumer SIGKILL": (sigkill("polls-consumer"), 2.0),
    "web SIGKILL": (sigkill("vote-web", vote_web_answers), 5.0),
    "broker SIGKILL": (embedded_broker_sigkill, 10.0),
    "supervisor SIGKILL": (supervisor_sigkill_and_start_again, 60.0),
}
