"""Publishing: an event is a row of the outbox, written in the caller's transaction."""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from typing import Any

from .conf import events_settings
from .context import current_correlation_id
from .contracts import Payload, schema_id, validate_published
from .envelope import Event
from .rows import insert_rows
from .tracing import start_create, tracer


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % int(events_settings.RELAY_SHARDS)


def publish(
    payload: Payload | str | None = None,
    /,
    *,
    key: str,
    data: dict[str, Any] | None = None,
    version: int | None = None,
    using: str | None = None,
    type: str | None = None,
) -> Event:
    """Record the event for delivery once the surrounding transaction commits::

        django_events.publish(VoteCast(vote_id=..., poll_id=..., ...), key=str(poll_id))

    The payload's class names the event type and version; its consumers read it as the same dataclass.
    Rolled back: no event. Committed: the relay delivers it, even if Kafka is down at that moment.
    Events of one ``key`` reach consumers in the order their transactions committed.

    Deprecated, until django-events 1.0: ``publish("vote.cast", key=..., data={...}, version=1)``, a type and
    a dict (it warns).
    """
    if isinstance(payload, Payload):
        if data is not None or version is not None or type is not None:
            raise TypeError("publish() takes a payload or a type with data, not both")
        event_type, event_version, event_data = payload.event_type, payload.version, payload.to_data()
    else:
        named = payload if payload is not None else type
        if not isinstance(named, str):
            raise TypeError(f"publish() takes a Payload, not {payload!r}")
        event_type = named
        if not isinstance(data, dict):
            raise TypeError("event data must be a dict (a JSON object)")
        warnings.warn(
            f"publish({event_type!r}, data={{...}}) is deprecated and goes in django-events 1.0: publish the typed "
            f"payload, publish(<its Payload dataclass>(...), key=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        event_version, event_data = version or 1, data
    from .models import OutboxEvent  # models load after the app registry; this module loads before it

    event = Event(
        type=event_type,
        key=str(key),
        data=event_data,
        version=event_version,
        source=events_settings.SERVICE or "",
        correlation_id=current_correlation_id(),
        dataschema=schema_id(event_type, event_version),
    )
    if events_settings.VALIDATE_PUBLISHED:
        validate_published(event)
    span = carrier = None
    if (active := tracer()) is not None:
        span, carrier = start_create(active, event.type, event.topic, event.key, str(event.id))
        event = dataclasses.replace(event, traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
    # insert_rows rather than the ORM's create(): a quarter less CPU, on the path of every write that publishes.
    row = {
        "event_id": event.id,
        "event_type": event.type,
        "event_version": event.version,
        "topic": event.topic,
        "key": event.key,
        "shard": shard_of(event.key),
        "payload": event.to_json(),
    }
    if span is None:
        insert_rows(OutboxEvent, [row], using=using or events_settings.DATABASE)
        return event
    row["trace_context"] = carrier or None
    try:
        insert_rows(OutboxEvent, [row], using=using or events_settings.DATABASE)
    except BaseException as error:
        span.record_exception(error)
        raise
    finally:
        span.end()
    return event
