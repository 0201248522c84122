"""The one settings dict, ``DJANGO_EVENTS``, read through an object with defaults."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

SETTINGS_NAME = "DJANGO_EVENTS"

DEFAULTS: dict[str, Any] = {
    # Name of this service: the `source` of what it publishes and its consumer group.
    "SERVICE": None,
    # The broker: "kafka" or "rabbitmq" (RabbitMQ streams, 3.10+).
    "TRANSPORT": "kafka",
    # None means $KAFKA_BOOTSTRAP_SERVERS, read when the setting is first used.
    "BOOTSTRAP_SERVERS": None,
    # None means $RABBITMQ_URL, read when the setting is first used.
    "RABBITMQ_URL": None,
    "TOPIC_PREFIX": "",
    "TOPIC_PARTITIONS": 4,
    "TOPIC_REPLICATION_FACTOR": 1,
    "GROUP_ID": None,
    # How every Kafka client connects (security.protocol, sasl.*, ssl.*): producer, consumer and admin alike.
    "CLIENT": {},
    # Passed through to confluent-kafka after the library's own safe defaults.
    "PRODUCER": {},
    "CONSUMER": {},
    "DATABASE": "default",
    # publish() takes a per-key lock until its transaction ends (PostgreSQL), so one key's events are relayed in
    # the order their transactions committed, however many transactions publish for it at once.
    "KEY_COMMIT_ORDER": True,
    "RELAY_BATCH_SIZE": 1000,
    "RELAY_SHARDS": 16,
    "RELAY_POLL_INTERVAL": 0.05,
    "RELAY_SEND_TIMEOUT": 30.0,
    "OUTBOX_RETENTION": 7 * 24 * 3600,
    "INBOX_RETENTION": 30 * 24 * 3600,
    "CONSUMER_BATCH_SIZE": 500,
    "RETRIES": 3,
    "RETRY_BACKOFF": 0.2,
    "DEAD_LETTER_SUFFIX": ".dlq",
    # While an event of a key waits as a dead letter, hold that key's later events (other keys flow) until the
    # dead letter is redriven or skipped: a key's events then never take effect out of order.
    "PARK_KEYS": False,
    # The event contracts' catalogue: a directory of <type>/v<version>.json JSON Schemas (see contracts.py).
    "CONTRACTS": None,
    # Event type -> the only `source` a consumer accepts it from (the type's owner), e.g. from the contracts'
    # catalogue (``Catalogue.owners()``). None believes any source; an event whose type is missing is refused.
    "OWNERS": None,
    # Validate each published event's data against its contract (on in tests; it costs CPU on every write).
    "VALIDATE_PUBLISHED": False,
    # How long a request waits for a projection to hold a row another service created a moment ago
    # (``wait_for_read_model``) before it answers that the row is unknown.
    "READ_MODEL_WAIT": 5.0,
    # Events go out as CloudEvents (envelope.py); on, they also carry the field names of django-events 0.1's
    # envelope (version, occurred_at, key, correlation_id), which its consumers need to read them. Turn it off
    # once no consumer of the topics runs 0.1: underscores are not CloudEvents attribute names, and a strict
    # CloudEvents SDK (Java's) refuses an event that has them.
    "LEGACY_ENVELOPE": True,
    # How many requests of one process may be waiting so at once; one more answers at once that the row is unknown,
    # so that requests for ids nobody created hold at most this many of the process's threads. Keep it well under
    # the threads a web process serves requests on.
    "READ_MODEL_WAITERS": 2,
    # OpenTelemetry spans for publish, the relay's batches and the consumer's applying (docs/tracing.md), when the
    # ``tracing`` extra is installed and the process set a tracer provider; False turns them off even then (the
    # relay still forwards the trace context of rows published with them).
    "TRACING": True,
}


class EventsSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(django_settings, SETTINGS_NAME, {}) or {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"{SETTINGS_NAME} has no setting {name!r}")
        if name not in self._cache:
            value = self.user_settings.get(name, DEFAULTS[name])
            if name == "BOOTSTRAP_SERVERS" and not value:
                value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
            if name == "RABBITMQ_URL" and not value:
                value = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
            if name == "GROUP_ID" and not value:
                # Platforms sharing a broker under different topic prefixes must not share consumer groups.
                value = f"{self.TOPIC_PREFIX}{self.SERVICE}"
            self._cache[name] = value
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


events_settings = EventsSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        events_settings.reload()


setting_changed.connect(_reload)
