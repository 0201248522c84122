"""Publishing: an event is a row of the outbox, written in the caller's transaction."""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, transaction

from .conf import events_settings
from .context import current_correlation_id
from .contracts import Payload, schema_id, validate_published
from .envelope import Event
from .rows import insert_rows
from .tracing import start_create, tracer

# Namespace of publish()'s per-key locks, pg_advisory_xact_lock(namespace, hash of topic and key): beside the relay's
# shard locks (relay.LOCK_NAMESPACE), never one of them.
KEY_LOCK_NAMESPACE = 0x0E7F
_KEY_LOCK = "SELECT pg_advisory_xact_lock(%s, %s)"


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % int(events_settings.RELAY_SHARDS)


def key_lock_id(topic: str, key: str) -> int:
    """The key's lock within KEY_LOCK_NAMESPACE: 32 bits, signed as PostgreSQL's int4. Two keys sharing one only
    wait for each other."""
    lock = zlib.crc32(f"{topic}\0{key}".encode())
    return lock - 2**32 if lock >= 2**31 else lock


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
    Events of one ``key`` reach consumers in the order their transactions committed, however many transactions
    publish for it at once: on PostgreSQL, ``publish`` takes a lock on the key (``KEY_COMMIT_ORDER``) that a
    second transaction publishing for the same key waits for until the first one ends. Publish last in the
    transaction, after its row locks, and keys in one order across transactions (see the guarantees).

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
    # insert_rows rather than the ORM's create(): less CPU, on the path of every write that publishes.
    row = {
        "event_id": event.id,
        "event_type": event.type,
        "event_version": event.version,
        "topic": event.topic,
        "key": event.key,
        "shard": shard_of(event.key),
        "payload": event.to_json(),
    }
    alias = using or events_settings.DATABASE
    if span is None:
        _insert(row, alias)
        return event
    row["trace_context"] = carrier or None
    try:
        _insert(row, alias)
    except BaseException as error:
        span.record_exception(error)
        raise
    finally:
        span.end()
    return event


async def apublish(
    payload: Payload | str | None = None,
    /,
    *,
    key: str,
    data: dict[str, Any] | None = None,
    version: int | None = None,
    using: str | None = None,
    type: str | None = None,
) -> Event:
    """``publish`` for async code (an ``async def`` view or task)::

        await django_events.apublish(VoteCast(...), key=str(poll_id))

    It runs ``publish`` through ``sync_to_async`` on the thread Django's async ORM uses for the request, so on
    the same database connection as ``await Model.objects.acreate(...)``. Django runs no transaction in async
    code (``transaction.atomic`` is synchronous only, and ``ATOMIC_REQUESTS`` does not apply to async views):
    the event commits on its own, as ``publish`` does outside ``atomic``, so it may exist without a change that
    failed after it. To publish atomically with a change, which is what the outbox is for, write the change and
    ``publish`` in one synchronous function under ``transaction.atomic`` and await that function through
    ``sync_to_async``, as Django's documentation advises for transactions in async code. Per-key commit order,
    the correlation id of the current context and the contract checks are those of ``publish``.
    """
    publishing = sync_to_async(publish, thread_sensitive=True)
    return await publishing(payload, key=key, data=data, version=version, using=using, type=type)


def _insert(row: dict[str, Any], alias: str) -> None:
    from .models import OutboxEvent  # models load after the app registry; this module loads before it

    connection = connections[alias]
    if not (events_settings.KEY_COMMIT_ORDER and connection.vendor == "postgresql"):
        # SQLite lets one transaction write at a time, from its first write to its commit: a key's rows are
        # numbered in commit order already.
        insert_rows(OutboxEvent, [row], using=alias)
    elif connection.in_atomic_block or not connection.get_autocommit():
        _insert_in_key_order(row, alias)
    else:
        with transaction.atomic(using=alias):  # outside a transaction: the lock must cover the row's commit
            _insert_in_key_order(row, alias)


def _insert_in_key_order(row: dict[str, Any], alias: str) -> None:
    """Numbers the row after every committed row of its key, and before any row of the key that commits later.

    The lock lasts until the caller's transaction ends, so another transaction publishing for the key waits here
    for that commit (or rollback), and only then takes its number from the outbox's sequence: one key's rows are
    numbered, and so relayed, in the order their transactions committed. Other keys do not wait.
    """
    from .models import OutboxEvent

    with connections[alias].cursor() as cursor:
        cursor.execute(_KEY_LOCK, [KEY_LOCK_NAMESPACE, key_lock_id(row["topic"], row["key"])])
    insert_rows(OutboxEvent, [row], using=alias)
