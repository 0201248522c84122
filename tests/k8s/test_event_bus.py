"""The cluster's event bus is authenticated: Kafka refuses a client without credentials and another service's
principal on a topic it does not own (SASL/SCRAM and ACLs from the kafka-grant Job), and its NetworkPolicy admits
neither a pod wearing the gateway's labels nor a pod of another namespace. The services' own traffic over it is
the walk of test_platform_on_kubernetes.py, on the same cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.k8s.conftest import NAMESPACE, Platform, kubectl, probe_pods, reach, web_pod

KAFKA = f"polls-kafka.{NAMESPACE}.svc:9092"
OUTSIDE = f"{NAMESPACE}-bus-outside"

# Run inside a service's pod (its image has confluent-kafka): produce one message to a topic as the pod's own
# principal (KAFKA_SASL_* of its Secret) or with no credentials, and print the broker's answer.
PRODUCE = """
import json, os, sys
from confluent_kafka import Producer
topic, how = sys.argv[1], sys.argv[2]
config = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"], "message.timeout.ms": 15000}
if how == "own":
    config |= {"security.protocol": os.environ["KAFKA_SECURITY_PROTOCOL"], "sasl.mechanism": os.environ["KAFKA_SASL_MECHANISM"],
               "sasl.username": os.environ["KAFKA_SASL_USERNAME"], "sasl.password": os.environ["KAFKA_SASL_PASSWORD"]}
outcome = []
producer = Producer(config)
producer.produce(topic, b"forged", on_delivery=lambda error, message: outcome.append(error))
producer.flush(30)
print(json.dumps({"error": outcome[-1].name() if outcome and outcome[-1] else None}))
"""

def _produce(pod: str, topic: str, how: str) -> str | None:
    out = kubectl("exec", pod, "--", "python", "-c", PRODUCE, topic, how, timeout=120)
    error: str | None = json.loads(out.strip().splitlines()[-1])["error"]
    return error


def test_kafka_refuses_another_services_principal_and_a_client_without_credentials(platform: Platform) -> None:
    vote, polls = web_pod("vote-service"), web_pod("polls-service")
    # vote-service reads poll (it consumes poll.*), so the broker knows it there, and refuses its write.
    assert _produce(vote, "poll", "own") == "TOPIC_AUTHORIZATION_FAILED"
    assert _produce(polls, "user", "own") == "TOPIC_AUTHORIZATION_FAILED"
    assert _produce(vote, "poll", "anonymous") is not None
    # A service's own topic takes its own principal's writes: the refusals are about who, not a broken broker.
    # Its dead-letter topic of what it reads, which no consumer reads: a message there poisons nobody (the
    # Prometheus test counts every consumer's dead letters and wants 0).
    assert _produce(vote, "poll.dlq", "own") is None


@pytest.fixture(scope="module")
def probes(platform: Platform) -> Iterator[dict[str, tuple[str, str]]]:
    with probe_pods("bus", OUTSIDE) as pods:
        yield pods


def _reaches_kafka(pod: str, namespace: str) -> bool:
    return reach(pod, namespace, KAFKA)[KAFKA]


@pytest.mark.parametrize("kind", ["gateway-labels", "other-namespace"])
def test_neither_the_gateways_pods_nor_another_namespace_reach_kafka(probes: dict[str, tuple[str, str]], kind: str) -> None:
    if _reaches_kafka(*probes["unlabelled"]):
        pytest.skip("this cluster does not enforce NetworkPolicies (an unlabelled pod reaches Kafka)")
    assert not _reaches_kafka(*probes[kind])
    # The policy is selective: a service's own pod still reaches Kafka.
    assert _reaches_kafka(web_pod("vote-service"), NAMESPACE)
