"""Publishing: an event is a row of the outbox, written in the caller's transaction."""

from __future__ import annotations

import zlib
from typing import Any

from .conf import events_settings
from .context import current_correlation_id
from .contracts import schema_id, validate_published
from .envelope import Event
from .rows import insert_rows


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % int(events_settings.RELAY_SHARDS)


def publish(type: str, *, key: str, data: dict[str, Any], version: int = 1, using: str | None = None) -> Event:
    """Record ``type`` for delivery once the surrounding transaction commits.

    Rolled back: no event. Committed: the relay delivers it, even if Kafka is down at that moment.
    Events of one ``key`` reach consumers in the order their transactions committed.
    """
    if not isinstance(data, dict):
        raise TypeError("event data must be a dict (a JSON object)")
    from .models import OutboxEvent  # models load after the app registry; this module loads before it

    event = Event(
        type=type,
        key=str(key),
        data=data,
        version=version,
        source=events_settings.SERVICE or "",
        correlation_id=current_correlation_id(),
        dataschema=schema_id(type, version),
    )
    if events_settings.VALIDATE_PUBLISHED:
        validate_published(event)
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
    insert_rows(OutboxEvent, [row], using=using or events_settings.DATABASE)
    return event
