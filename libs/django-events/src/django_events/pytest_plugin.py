"""pytest fixtures for tests against a real Kafka broker (installed as a pytest11 plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def kafka_bootstrap_servers() -> str:
    """The broker from $KAFKA_BOOTSTRAP_SERVERS; the test is skipped when none is configured."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS is not set (make infra-up starts a broker)")
    return servers


@pytest.fixture
def isolated_topics(settings, kafka_bootstrap_servers: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Points DJANGO_EVENTS at the real broker with topics and a consumer group no other test shares."""
    from .testing import unique_topic_prefix

    prefix = unique_topic_prefix()
    settings.DJANGO_EVENTS = {
        **getattr(settings, "DJANGO_EVENTS", {}),
        "BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "TOPIC_PREFIX": prefix,
        "GROUP_ID": f"{prefix}group",
    }
    yield prefix
