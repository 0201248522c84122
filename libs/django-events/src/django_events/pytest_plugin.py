"""pytest fixtures for tests against a real broker, Kafka or RabbitMQ (installed as a pytest11 plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def _broker_address(variable: str) -> str:
    address = os.environ.get(variable)
    if not address:
        pytest.skip(f"{variable} is not set (make infra-up starts a broker)")
    return address


@pytest.fixture
def kafka_bootstrap_servers() -> str:
    """The broker from $KAFKA_BOOTSTRAP_SERVERS; the test is skipped when none is configured."""
    return _broker_address("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture
def rabbitmq_url() -> str:
    """The broker from $RABBITMQ_URL; the test is skipped when none is configured."""
    return _broker_address("RABBITMQ_URL")


@pytest.fixture
def isolated_topics(settings, request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Points DJANGO_EVENTS at the real broker of its TRANSPORT (or the in-memory one) with topics and a consumer
    group no other test shares."""
    from .testing import unique_topic_prefix

    configured = getattr(settings, "DJANGO_EVENTS", {})
    if configured.get("TRANSPORT", "kafka") == "memory":
        broker = {}
    elif configured.get("TRANSPORT", "kafka") == "rabbitmq":
        broker = {"RABBITMQ_URL": request.getfixturevalue("rabbitmq_url")}
    else:
        broker = {"BOOTSTRAP_SERVERS": request.getfixturevalue("kafka_bootstrap_servers")}
    prefix = unique_topic_prefix()
    settings.DJANGO_EVENTS = {**configured, **broker, "TOPIC_PREFIX": prefix, "GROUP_ID": f"{prefix}group"}
    yield prefix
