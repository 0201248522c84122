"""Clients nobody here wrote read the running platform's events: a Node.js consumer with the CloudEvents SDK and
kafkajs on Kafka, and with amqplib on RabbitMQ (interop/, installed by `npm ci`), as a team in another stack
would. They print each event's CloudEvents attributes; the test checks them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Platform, eventually, register_and_login

INTEROP = ROOT / "interop"
CONSUMERS = {"kafka": "kafka-consumer.mjs", "rabbitmq": "amqp-consumer.mjs"}


def contract_id(event_type: str, version: int) -> str:
    schema: dict[str, Any] = json.loads((ROOT / "contracts" / "events" / event_type / f"v{version}.json").read_text())
    return str(schema["$id"])


def a_poll_with_a_vote(platform: Platform) -> tuple[str, str]:
    """Creates a poll, a choice and a vote through the gateway; returns the poll's and the vote's ids."""
    with platform.client() as client:
        suffix = uuid.uuid4().hex[:6]
        owner = register_and_login(client, f"stranger-owner-{suffix}")
        voter = register_and_login(client, f"stranger-voter-{suffix}")
        poll = client.post("/api/polls/", json={"question": "Which SDK?"}, headers=owner)
        assert poll.status_code == 201, poll.text
        choice = client.post("/api/choices/", json={"poll_id": poll.json()["id"], "text": "cloudevents"}, headers=owner)
        assert choice.status_code == 201, choice.text
        vote = eventually(
            lambda: client.post("/api/votes/", json={"poll_id": poll.json()["id"], "choice_id": choice.json()["id"]},
                                headers=voter),
            until=lambda r: r.status_code != 401,
        )
        assert vote.status_code == 201, vote.text
        return str(poll.json()["id"]), str(vote.json()["id"])


def test_a_node_cloudevents_consumer_reads_poll_created_and_vote_cast(platform: Platform) -> None:
    transport = platform.events_env["EVENTS_TRANSPORT"]
    if transport not in CONSUMERS:
        pytest.skip("the embedded broker of make run is for development; strangers read Kafka and RabbitMQ")
    node = shutil.which("node")
    assert node and (INTEROP / "node_modules").is_dir(), "Node.js 20 and `npm ci` in interop/ (make interop)"
    poll_id, vote_id = a_poll_with_a_vote(platform)
    prefix = platform.events_env["KAFKA_TOPIC_PREFIX"]

    read = subprocess.run(
        [node, CONSUMERS[transport], "--topics", f"{prefix}poll,{prefix}vote", "--types", "poll.created,vote.cast",
         "--timeout", "90"],
        cwd=INTEROP, env=os.environ.copy(), capture_output=True, text=True, timeout=150,
    )

    assert read.returncode == 0, read.stderr[-3000:]
    print(read.stdout)  # what a stranger sees, in the test's output
    events = [json.loads(line) for line in read.stdout.splitlines() if line.startswith("{")]
    created = next(e for e in events if e["type"] == "poll.created" and e["data"]["poll_id"] == poll_id)
    cast = next(e for e in events if e["type"] == "vote.cast" and e["data"]["vote_id"] == vote_id)
    for event, source in ((created, "polls-service"), (cast, "vote-service")):
        assert event["specversion"] == "1.0"
        assert uuid.UUID(event["id"])
        assert event["source"] == source
        assert event["time"] and event["datacontenttype"] == "application/json"
        assert event["dataschema"] == contract_id(event["type"], 1)
        assert (event["eventversion"], event["partitionkey"]) == (1, poll_id)
        assert event["correlationid"], "the request's correlation id"
        # RabbitMQ's platform runs with EVENTS_LEGACY_ENVELOPE=off: CloudEvents alone, valid by the SDK's strict
        # rules. Kafka's carries django-events 0.1's field names too, which a strict CloudEvents reader refuses.
        legacy = platform.events_env.get("EVENTS_LEGACY_ENVELOPE", "on") == "on"
        assert event["valid"] is not legacy, event["problem"]
    assert cast["data"]["poll_id"] == poll_id


def test_an_openid_client_discovers_the_issuer_and_verifies_a_token(platform: Platform) -> None:
    """openid-client (Node.js) is pointed at the issuer a token names and nothing else: it finds the keys by
    discovery through the gateway, and jose verifies the token with them."""
    node = shutil.which("node")
    assert node and (INTEROP / "node_modules").is_dir(), "Node.js 20 and `npm ci` in interop/ (make interop)"
    with platform.client() as client:
        headers = register_and_login(client, f"stranger-oidc-{uuid.uuid4().hex[:6]}")
        discovery = client.get("/.well-known/openid-configuration")
    token = headers["Authorization"].removeprefix("Bearer ")
    assert discovery.status_code == 200, discovery.text
    issuer = discovery.json()["issuer"]
    assert issuer == platform.url, "tokens of make run name its gateway as their issuer"

    verified = subprocess.run(
        [node, "discover.mjs", "--issuer", issuer, "--audience", "polls-platform", "--token", token],
        cwd=INTEROP, capture_output=True, text=True, timeout=60,
    )

    assert verified.returncode == 0, verified.stderr[-3000:]
    found = json.loads(verified.stdout)
    assert found["jwks_uri"] == f"{platform.url}/api/auth/jwks/"
    assert found["algorithms"] == ["RS256"] and found["header"]["alg"] == "RS256"
    assert (found["claims"]["iss"], found["claims"]["token_type"]) == (issuer, "access")
