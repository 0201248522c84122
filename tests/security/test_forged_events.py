"""Forging events on the bus: refused by the broker to another service's credentials and to anyone without any,
and, once smuggled past it (the administrator's credentials, or a service writing another type onto its own
topic), refused by the consumers, which dead-letter the event with a reason. The read models the forgeries aim at
(choice-service's poll owners, vote-service's votes, every service's knowledge of a user) are unchanged.

Each service's credentials are those dev/run.py gave it (event_contracts.access, derived from the administrator's
password); the administrator's are `infra/infra.sh up`'s."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from event_contracts import access

from tests.e2e.conftest import eventually
from tests.security.conftest import LIMITS_ON, Platform, User, client, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
SOURCE = "127.0.1.7"


def kafka(username: str | None, password: str | None = None, **more: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"], **more}
    if username is not None:
        config |= {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                   "sasl.username": username, "sasl.password": password}
    return config


def as_service(service: str) -> dict[str, Any]:
    return kafka(service, access.derived_password(os.environ["KAFKA_SASL_PASSWORD"], service))


def as_admin() -> dict[str, Any]:
    return kafka(os.environ["KAFKA_SASL_USERNAME"], os.environ["KAFKA_SASL_PASSWORD"])


def envelope(event_type: str, key: str, data: dict[str, Any], source: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": event_type, "version": 1, "source": source, "key": key, "data": data,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "correlation_id": None}


def produce(config: dict[str, Any], topic: str, event: dict[str, Any]) -> KafkaError | None:
    """Sends one event and returns the broker's answer: None when it was written."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 15000, "enable.idempotence": False,
                         "error_cb": lambda error: outcome.append(error) if error.fatal() else None})
    producer.produce(topic, key=event["key"].encode(), value=json.dumps(event).encode(),
                     on_delivery=lambda error, _message: outcome.append(error))
    producer.flush(30)
    assert outcome, "no delivery report"
    return outcome[-1]


@dataclass
class Targets:
    """A poll with a choice (alice's), a vote on it (bob's): what the forgeries try to take over or void."""

    alice: User
    bob: User
    mallory: User
    poll_id: str
    choice_id: str


@pytest.fixture
def targets(platform: Platform) -> Iterator[Targets]:
    alice, bob, mallory = (fresh_user(platform.url, SOURCE) for _ in range(3))
    with client(platform.url, SOURCE) as http:
        poll_id = http.post("/api/polls/", json={"question": "Forged?"}, headers=alice.authorization).json()["id"]
        choice = eventually(lambda: http.post("/api/choices/", json={"poll_id": poll_id, "text": "No"},
                                              headers=alice.authorization), until=lambda r: r.status_code == 201)
        assert choice.status_code == 201, choice.text
        choice_id = choice.json()["id"]
        vote = eventually(lambda: http.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_id},
                                            headers=bob.authorization), until=lambda r: r.status_code == 201)
        assert vote.status_code == 201, vote.text
    yield Targets(alice, bob, mallory, poll_id, choice_id)


def forgeries(t: Targets) -> list[tuple[str, dict[str, Any]]]:
    """(topic, event): mallory owning alice's poll, alice's poll closed before bob voted, alice deleted."""
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    taken = {"poll_id": t.poll_id, "question": "Mine now", "owner_id": t.mallory.id, "status": "open", "closes_at": None,
             "created_at": long_ago}
    return [
        ("poll", envelope("poll.created", t.poll_id, taken, "polls-service")),
        ("poll", envelope("poll.closed", t.poll_id, {"poll_id": t.poll_id, "closed_at": long_ago}, "polls-service")),
        ("user", envelope("user.deleted", t.alice.id, {"user_id": t.alice.id}, "auth-service")),
    ]


def assert_read_models_unchanged(platform: Platform, t: Targets) -> None:
    with client(platform.url, SOURCE) as http:
        # choice-service still knows alice as the owner: mallory may not change her choice, alice may.
        taken = http.patch(f"/api/choices/{t.choice_id}/", json={"text": "Yes"}, headers=t.mallory.authorization)
        assert taken.status_code == 403, taken.text
        # alice is still known everywhere: her token works at the choices (a user.deleted would make it 401).
        kept = http.patch(f"/api/choices/{t.choice_id}/", json={"text": "Still no"}, headers=t.alice.authorization)
        assert kept.status_code == 200, kept.text
        still = http.post("/api/polls/", json={"question": "Still here?"}, headers=t.alice.authorization)
        assert still.status_code == 201, still.text
        # bob's vote still counts: the poll was not closed before it.
        results = http.get(f"/api/votes/results/{t.poll_id}/")
        assert results.status_code == 200 and results.json()["total"] == 1, results.text


def dead_letters(topic: str, ids: set[str], count: int, timeout: float = 60.0) -> dict[tuple[str, str], str]:
    """(event id, consumer service) -> reason, for the dead letters of ``ids`` on ``topic``, read as the administrator."""
    reader = Consumer(as_admin() | {"group.id": f"security-reader-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    reader.subscribe([topic])
    found: dict[tuple[str, str], str] = {}
    deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
    try:
        while len(found) < count and dt.datetime.now() < deadline:
            message = reader.poll(0.5)
            if message is None or message.error():
                continue
            headers = {name: value.decode() for name, value in message.headers() or []}
            event_id = json.loads(message.value())["id"]
            if event_id in ids:
                found[(event_id, headers["dead_lettered_by"])] = headers["dead_letter_reason"]
    finally:
        reader.close()
    return found


def test_the_broker_refuses_another_services_credentials_and_anonymous_clients(platform: Platform, targets: Targets) -> None:
    prefix = platform.prefix
    poll_created, poll_closed, user_deleted = (event for _, event in forgeries(targets))
    # Each forger reads the topic it forges on (it consumes it), so the broker knows it and still refuses the write.
    for forger, topic, event in [("choice-service", "poll", poll_created), ("vote-service", "poll", poll_closed),
                                 ("polls-service", "user", user_deleted), ("vote-service", "user", user_deleted)]:
        error = produce(as_service(forger), prefix + topic, event)
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (forger, topic, error)
    # No credentials at all (plaintext against the SASL listener), and a service's name with a wrong password.
    anonymous = produce(kafka(None, **{"socket.timeout.ms": 5000}), prefix + "poll", poll_created)
    assert anonymous is not None, "an unauthenticated client wrote to the bus"
    wrong = produce(kafka("polls-service", "guessed"), prefix + "poll", poll_created)
    assert wrong is not None and wrong.code() in (KafkaError._AUTHENTICATION, KafkaError._MSG_TIMED_OUT), wrong

    assert_read_models_unchanged(platform, targets)


def test_events_smuggled_past_the_broker_are_dead_lettered_by_every_consumer_with_a_reason(
    platform: Platform, targets: Targets
) -> None:
    prefix = platform.prefix
    sent: list[tuple[str, dict[str, Any]]] = []
    # The administrator (or any tool holding its credentials) writes the owner's topics under other sources.
    for topic, event in forgeries(targets):
        for source in ("choice-service", ""):
            forged = {**event, "id": str(uuid.uuid4()), "source": source}
            assert produce(as_admin(), prefix + topic, forged) is None
            sent.append((topic, forged))
    # polls-service may write its own topic, but not deliver auth-service's user.deleted through it.
    _, user_deleted = forgeries(targets)[2]
    through_poll = {**user_deleted, "id": str(uuid.uuid4())}
    assert produce(as_service("polls-service"), prefix + "poll", through_poll) is None
    sent.append(("poll", through_poll))

    consumers = {"poll": {"choice-service", "vote-service"}, "user": {"polls-service", "choice-service", "vote-service"}}
    for topic in ("poll", "user"):
        ids = {event["id"] for t, event in sent if t == topic}
        expected = {(i, service) for i in ids for service in consumers[topic]}
        found = dead_letters(prefix + topic + ".dlq", ids, len(expected))
        assert set(found) == expected, f"not dead-lettered: {sorted(expected - set(found))}"
        for (event_id, _service), reason in found.items():
            event = next(e for t, e in sent if e["id"] == event_id)
            if event is through_poll:
                assert reason.startswith("user.deleted arrived on topic"), reason
            else:
                owner = _owner(event["type"])
                assert reason == f"source {event['source']!r} is not the owner of {event['type']} ({owner!r})", reason

    assert_read_models_unchanged(platform, targets)


def test_rabbitmq_refuses_another_services_user_on_the_owners_streams(platform: Platform) -> None:
    """The same rights on RabbitMQ (infra.sh's users): a consumer of poll.* may not publish to its streams, neither
    through their own exchange nor through the default one; the owner may."""
    url = os.environ.get("RABBITMQ_URL")
    if not (url and os.environ.get("RABBITMQ_SERVICE_USERS") == "on"):
        pytest.skip("needs RABBITMQ_URL and RABBITMQ_SERVICE_USERS=on (make infra-up)")
    import pika
    from pika.exceptions import ChannelClosedByBroker

    host = url.rsplit("@", 1)[-1].split("/", 1)[0]
    stream = f"{platform.prefix}poll.0"

    def publish(service: str, exchange: str) -> int | None:
        """The broker's refusal code, or None when the message was confirmed."""
        password = access.derived_password(url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1], service)
        connection = pika.BlockingConnection(pika.URLParameters(f"amqp://{service}:{password}@{host}/%2F"))
        try:
            channel = connection.channel()
            if service == "polls-service":  # the owner sets its stream up, as its relay does
                channel.queue_declare(stream, durable=True, arguments={"x-queue-type": "stream"})
                channel.exchange_declare(stream, "direct", durable=True)
                channel.queue_bind(stream, stream, routing_key=stream)
            channel.confirm_delivery()
            channel.basic_publish(exchange, stream, json.dumps(forged_poll).encode())
            return None
        except ChannelClosedByBroker as refused:
            return int(refused.reply_code)
        finally:
            if connection.is_open:
                connection.close()

    forged_poll = envelope("poll.closed", "p", {"poll_id": str(uuid.uuid4()), "closed_at": dt.datetime.now(dt.UTC).isoformat()},
                           "polls-service")
    assert publish("polls-service", stream) is None
    for forger in ("choice-service", "vote-service"):
        assert publish(forger, stream) == 403
        assert publish(forger, "") == 403


def _owner(event_type: str) -> str:
    return {"poll": "polls-service", "user": "auth-service"}[event_type.split(".")[0]]

