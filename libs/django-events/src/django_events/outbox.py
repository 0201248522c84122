"""Publishing: an event is a row of the outbox, written in the caller's transaction."""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from collections.abc import Sequence
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
    event = _event(payload, key=key, data=data, version=version, type=type)
    span = carrier = None
    if (active := tracer()) is not None:
        span, carrier = start_create(active, event.type, event.topic, event.key, str(event.id))
        event = dataclasses.replace(event, traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
    row = _row(event)
    alias = using or events_settings.DATABASE
    if span is None:
        _insert([row], alias)
        return event
    row["trace_context"] = carrier or None
    try:
        _insert([row], alias)
    except BaseException as error:
        span.record_exception(error)
        raise
    finally:
        span.end()
    return event


def event_for(payload: Payload, /, *, key: str) -> Event:
    """The event ``publish`` would record, made now, in the caller's context (its correlation id, its trace), and
    not recorded yet: ``publish_events`` records it, maybe in another thread's transaction with other events.

    For a writer that commits the work of several requests together: each request makes its own event, so each
    keeps its correlation id and trace, and the one that commits records them all in one statement. Its ``create``
    span (when tracing) ends here, being the event's creation; the insert is the committing transaction's.
    """
    if not isinstance(payload, Payload):
        raise TypeError(f"event_for() takes a Payload, not {payload!r}")
    event = _event(payload, key=key)
    if (active := tracer()) is not None:
        span, carrier = start_create(active, event.type, event.topic, event.key, str(event.id))
        span.end()
        event = dataclasses.replace(event, traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
    return event


def publish_events(events: Sequence[Event], *, using: str | None = None) -> None:
    """Records events made by ``event_for`` for delivery once the surrounding transaction commits, in one
    statement: rolled back, none of them; committed, all. Per-key commit order holds as for ``publish`` (the
    keys' locks are taken in one order, so two such transactions never wait for each other in a cycle)."""
    if events:
        _insert([_row(event) for event in events], using or events_settings.DATABASE)


def _event(payload: Payload | str | None, *, key: str, data: dict[str, Any] | None = None,
           version: int | None = None, type: str | None = None) -> Event:
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
            stacklevel=3,
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
    return event


def _row(event: Event) -> dict[str, Any]:
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
    if event.traceparent:
        row["trace_context"] = {name: value for name, value in
                                (("traceparent", event.traceparent), ("tracestate", event.tracestate)) if value}
    return row


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


def _insert(rows: list[dict[str, Any]], alias: str) -> None:
    from .models import OutboxEvent  # models load after the app registry; this module loads before it

    connection = connections[alias]
    if not (events_settings.KEY_COMMIT_ORDER and connection.vendor == "postgresql"):
        # SQLite lets one transaction write at a time, from its first write to its commit: a key's rows are
        # numbered in commit order already.
        insert_rows(OutboxEvent, rows, using=alias)
    elif connection.in_atomic_block or not connection.get_autocommit():
        _insert_in_key_order(rows, alias)
    else:
        with transaction.atomic(using=alias):  # outside a transaction: the lock must cover the row's commit
            _insert_in_key_order(rows, alias)


def _insert_in_key_order(rows: list[dict[str, Any]], alias: str) -> None:
    """Numbers the rows after every committed row of their keys, and before any row of their keys that commits
    later.

    Each lock lasts until the caller's transaction ends, so another transaction publishing for the key waits here
    for that commit (or rollback), and only then takes its number from the outbox's sequence: one key's rows are
    numbered, and so relayed, in the order their transactions committed. Other keys do not wait.
    """
    from .models import OutboxEvent

    with connections[alias].cursor() as cursor:
        for lock in sorted({key_lock_id(row["topic"], row["key"]) for row in rows}):
            cursor.execute(_KEY_LOCK, [KEY_LOCK_NAMESPACE, lock])
    insert_rows(OutboxEvent, rows, using=alias)
