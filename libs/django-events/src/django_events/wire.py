"""What moves on the wire, shared by the transports (``kafka``, ``rabbitmq``) and what drives them.

A module of its own so that the transports need not import ``transport``, which imports them to choose one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Seconds a stopping worker gives the broker for its last commit and for leaving the group.
CLOSE_TIMEOUT = 10.0


@dataclass(slots=True)
class Message:
    """One message on the wire: what the relay sends, and what a subscription or a replay receives."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = -1
    offset: int = -1
    # The transport's own handle of a received message (e.g. a delivery tag), opaque to everything else.
    handle: Any = None


class PartitionLost(Exception):
    """Another consumer of the group took over a partition this one was applying: the batch is rolled back and
    nothing of it counts; consumption resumes from the positions stored in the database."""
