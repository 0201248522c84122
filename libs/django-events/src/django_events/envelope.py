"""The event envelope: plain data, a CloudEvent on the wire.

Events travel as CloudEvents 1.0 in structured mode (https://github.com/cloudevents/spec): the message body is
the JSON event format (``application/cloudevents+json``), the same on Kafka and on RabbitMQ, and the message key
stays the aggregate's key (the ``partitionkey`` extension, as the Kafka binding maps it). Structured rather than
binary mode because the body is the whole event: a consumer of django-events 0.1, which reads only the body, keeps
reading it (with ``LEGACY_ENVELOPE`` on, the 0.1 field names ride along), one parser serves both brokers, and a
CloudEvents SDK reads it with its JSON format alone (an AMQP 0-9-1 stream has no CloudEvents binding of its own).
Our ``version`` and ``correlation_id`` are the extension attributes ``eventversion`` and ``correlationid``
(extension names are lowercase letters and digits), ``dataschema`` is the ``$id`` of the event's contract and
``source`` the publishing service. ``Event.from_json`` reads CloudEvents and the 0.1 envelope still in the topics.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .conf import events_settings

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
# How a structured CloudEvent of ours begins: the relay tells it from a 0.1 envelope still in the outbox by it.
_CLOUDEVENT_START = '{"specversion":'


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
    # The contract of ``data``: its JSON Schema's ``$id`` (``DJANGO_EVENTS["CONTRACTS"]``), when there is one.
    dataschema: str | None = None
    # The publishing span's W3C trace context (the ``tracing`` extra), as CloudEvents' distributed tracing
    # extension carries it; None when published without tracing.
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def topic(self) -> str:
        return topic_for(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents JSON format; with ``LEGACY_ENVELOPE`` on, also the 0.1 envelope's fields."""
        body: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": str(self.id),
            "source": self.source or "unknown",
            "type": self.type,
            "time": self.occurred_at.isoformat(),
            "datacontenttype": "application/json",
        }
        if self.dataschema:
            body["dataschema"] = self.dataschema
        body["partitionkey"] = self.key
        body["eventversion"] = self.version
        if self.correlation_id is not None:
            body["correlationid"] = self.correlation_id
        if self.traceparent is not None:
            body["traceparent"] = self.traceparent
            if self.tracestate:
                body["tracestate"] = self.tracestate
        if events_settings.LEGACY_ENVELOPE:
            body |= {"version": self.version, "occurred_at": body["time"], "key": self.key,
                     "correlation_id": self.correlation_id}
        body["data"] = self.data
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), cls=DjangoJSONEncoder, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """A structured CloudEvent, or the envelope of django-events 0.1."""
        try:
            body = json.loads(raw)
            event = cls._from_cloudevent(body) if "specversion" in body else cls._from_envelope(body)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidEvent(f"not an event envelope: {error}") from error
        if not isinstance(event.data, dict):
            raise InvalidEvent("not an event envelope: data is not a JSON object")
        return event

    @classmethod
    def _from_cloudevent(cls, body: dict[str, Any]) -> Event:
        if body["specversion"] != SPECVERSION:
            raise ValueError(f"CloudEvents specversion {body['specversion']!r}, not {SPECVERSION}")
        correlation_id = body.get("correlationid")
        return cls(
            id=uuid.UUID(body["id"]),
            type=str(body["type"]),
            version=int(body.get("eventversion", 1)),
            occurred_at=datetime.fromisoformat(body["time"]),
            source=str(body["source"]),
            key=str(body["partitionkey"]),
            data=body["data"],
            correlation_id=None if correlation_id is None else str(correlation_id),
            dataschema=body.get("dataschema"),
            traceparent=_text(body.get("traceparent")),
            tracestate=_text(body.get("tracestate")),
        )

    @classmethod
    def _from_envelope(cls, body: dict[str, Any]) -> Event:
        return cls(
            id=uuid.UUID(body["id"]),
            type=str(body["type"]),
            version=int(body["version"]),
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            source=str(body.get("source", "")),
            key=str(body["key"]),
            data=body["data"],
            correlation_id=body.get("correlation_id"),
        )

    def headers(self) -> list[tuple[str, bytes]]:
        headers = message_headers(event_id=self.id, event_type=self.type, version=self.version, payload=self.to_json())
        return headers + [(name, value.encode()) for name in ("traceparent", "tracestate") if (value := getattr(self, name))]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def message_headers(*, event_id: uuid.UUID | str, event_type: str, version: int, payload: str) -> list[tuple[str, bytes]]:
    """The event's id, type and version, repeated as message headers so a broker's tools can filter on them
    without parsing the body, and the ``content-type`` that marks a structured CloudEvent (the bindings' rule).
    The relay sends them from outbox columns, without rebuilding the ``Event``: a row an 0.1 relay left in the
    outbox is an 0.1 envelope and goes without that content type."""
    headers = [
        ("event_id", str(event_id).encode()),
        ("event_type", event_type.encode()),
        ("event_version", str(version).encode()),
    ]
    if payload.startswith(_CLOUDEVENT_START):
        headers.append(("content-type", CONTENT_TYPE.encode()))
    return headers


def topic_for(event_type: str) -> str:
    """``poll.created`` goes to the ``poll`` topic, so an aggregate's events share one ordered log."""
    prefix: str = events_settings.TOPIC_PREFIX
    return prefix + event_type.split(".", 1)[0]
