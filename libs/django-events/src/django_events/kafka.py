"""confluent-kafka clients with the library's safe defaults under the user's pass-through settings."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from .conf import events_settings

logger = logging.getLogger("django_events")


def client_config(**overrides: Any) -> dict[str, Any]:
    """Where the brokers are and how to connect to them; every kind of client starts from it."""
    return {"bootstrap.servers": events_settings.BOOTSTRAP_SERVERS, **events_settings.CLIENT, **overrides}


def producer_config(**overrides: Any) -> dict[str, Any]:
    return {
        **client_config(),
        # Idempotence is off by default in librdkafka; it keeps per-partition order across internal retries.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": int(events_settings.RELAY_SEND_TIMEOUT * 1000),
        **events_settings.PRODUCER,
        **overrides,
    }


def consumer_config(**overrides: Any) -> dict[str, Any]:
    return {
        **client_config(),
        "group.id": events_settings.GROUP_ID,
        "auto.offset.reset": "earliest",
        # Offsets are stored by hand after the database commit; auto-commit only sends what was stored.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "allow.auto.create.topics": True,
        # A topic that did not exist at subscription (its creation timed out while the broker was starting, or
        # its producer has not published yet) is found within seconds rather than librdkafka's 5 minutes.
        "topic.metadata.refresh.interval.ms": 10000,
        **events_settings.CONSUMER,
        **overrides,
    }


def make_producer(**overrides: Any) -> Producer:
    return Producer(producer_config(**overrides))


def make_consumer(**overrides: Any) -> Consumer:
    return Consumer(consumer_config(**overrides))


def ensure_topics(topics: list[str], timeout: float = 10.0) -> None:
    """Create missing topics with the configured partitions; an existing topic is left as it is."""
    if not topics:
        return
    admin = AdminClient(client_config())
    new = [
        NewTopic(t, num_partitions=events_settings.TOPIC_PARTITIONS, replication_factor=events_settings.TOPIC_REPLICATION_FACTOR)
        for t in topics
    ]
    for topic, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as error:
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                logger.warning("could not create topic %s: %s", topic, error)
