"""What the relay, the consumer and rebuilds need from a broker, and the broker the settings choose.

The relay, the consumer and ``events_rebuild`` hold the logic (outbox claims, inbox, retries, dead-lettering, the
table swap); a transport only moves bytes: Kafka (``django_events.kafka``), RabbitMQ streams
(``django_events.rabbitmq``) or, for tests, a broker in the process's memory (``django_events.memory``). A topic
is split into partitions by a hash of the message key on each, so one key's messages stay in one ordered log.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Protocol

from .conf import events_settings
from .wire import CLOSE_TIMEOUT, Message, PartitionLost

TRANSPORTS = ("kafka", "rabbitmq", "memory")

__all__ = [
    "CLOSE_TIMEOUT",
    "TRANSPORTS",
    "Message",
    "PartitionLost",
    "Publisher",
    "Replay",
    "Subscription",
    "Transport",
    "get_transport",
]


class Publisher(Protocol):
    def send(self, messages: Sequence[Message], timeout: float) -> list[str | None]:
        """Send ``messages`` in order and wait for the broker's acknowledgements; returns, per message, None
        once the broker has it (a confirm) or the reason it may not."""
        ...

    def close(self, timeout: float) -> None: ...


class Subscription(Protocol):
    """This service's consumer group on its topics: each partition is consumed by one member at a time."""

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to ``max_messages`` already there, waiting up to ``timeout`` for the first one only."""
        ...

    def record(self, messages: Sequence[Message]) -> None:
        """Called inside the database transaction that applied ``messages`` (a transport may keep its positions
        there). Raises ``PartitionLost`` when the group moved a partition away meanwhile."""
        ...

    def committed(self, messages: Sequence[Message]) -> None:
        """Called once that transaction committed: the positions after ``messages`` may be acknowledged."""
        ...

    def joined(self) -> bool:
        """Whether this member holds its share of the topics from its group (it consumes from the next poll)."""
        ...

    def observe_lag(self, service: str) -> None: ...

    def close(self) -> None: ...


class Replay(Protocol):
    """A read of topics from their beginning, outside any consumer group (``events_rebuild``)."""

    def ends(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition), the offset a replay must reach to hold what the live read model holds."""
        ...

    def positions(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition), the offset of the next message this replay will return."""
        ...

    def poll(self, max_messages: int, timeout: float) -> list[Message]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    name: str

    def publisher(self, stop: threading.Event | None = None) -> Publisher:
        """``stop`` set ends a wait for the broker's acknowledgements early (what is unacknowledged is retried)."""
        ...

    def subscribe(self, topics: Sequence[str], group: str) -> Subscription: ...

    def replay(self, topics: Sequence[str], group: str) -> Replay:
        """``group`` is the live consumer group whose read model the replay rebuilds."""
        ...

    def ensure_topics(self, topics: Sequence[str]) -> None: ...

    def ready(self, timeout: float) -> tuple[bool, str]: ...


def get_transport() -> Transport:
    """The broker of ``DJANGO_EVENTS["TRANSPORT"]``."""
    return _transport(events_settings.TRANSPORT)


@functools.cache
def _transport(name: str) -> Transport:
    if name == "rabbitmq":
        from .rabbitmq import RabbitMQTransport

        return RabbitMQTransport()
    if name == "kafka":
        from .kafka import KafkaTransport

        return KafkaTransport()
    if name == "memory":
        from .memory import MemoryTransport

        return MemoryTransport()
    raise ValueError(f"unknown transport {name!r}: choose one of {', '.join(TRANSPORTS)}")
