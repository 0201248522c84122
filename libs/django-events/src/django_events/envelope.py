"""The event envelope: plain data, JSON on the wire."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .conf import events_settings


class InvalidEvent(ValueError):
    """A message that is not an event envelope (a poison message)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    type: str
    key: str
    data: dict[str, Any]
    version: int = 1
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=_now)
    source: str = ""
    correlation_id: str | None = None

    @property
    def topic(self) -> str:
        return topic_for(self.type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "key": self.key,
            "data": self.data,
            "correlation_id": self.correlation_id,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), cls=DjangoJSONEncoder, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        try:
            body = json.loads(raw)
            occurred_at = datetime.fromisoformat(body["occurred_at"])
            event = cls(
                id=uuid.UUID(body["id"]),
                type=str(body["type"]),
                version=int(body["version"]),
                occurred_at=occurred_at,
                source=str(body.get("source", "")),
                key=str(body["key"]),
                data=body["data"],
                correlation_id=body.get("correlation_id"),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidEvent(f"not an event envelope: {error}") from error
        if not isinstance(event.data, dict):
            raise InvalidEvent("not an event envelope: data is not a JSON object")
        return event

    def headers(self) -> list[tuple[str, bytes]]:
        return message_headers(event_id=self.id, event_type=self.type, version=self.version)


def message_headers(*, event_id: uuid.UUID | str, event_type: str, version: int) -> list[tuple[str, bytes]]:
    """The envelope's id, type and version, repeated as message headers so a broker's tools can filter on them
    without parsing the body. The relay sends them from outbox columns, without rebuilding the ``Event``."""
    return [
        ("event_id", str(event_id).encode()),
        ("event_type", event_type.encode()),
        ("event_version", str(version).encode()),
    ]


def topic_for(event_type: str) -> str:
    """``poll.created`` goes to the ``poll`` topic, so an aggregate's events share one ordered log."""
    prefix: str = events_settings.TOPIC_PREFIX
    return prefix + event_type.split(".", 1)[0]
