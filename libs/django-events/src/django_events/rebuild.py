"""Rebuilding a read model: replay its topics into a fresh table, then swap it in under a lock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connections, transaction

from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event, InvalidEvent
from .models import InboxEvent
from .projection import Projection, create_table
from .provenance import refusal
from .registry import UnsupportedVersion, registry
from .tracing import rebuilding, tracer
from .transport import Replay, get_transport

logger = logging.getLogger("django_events.rebuild")


def rebuild(projection: Projection, *, log: Callable[[str], None] = lambda _: None) -> int:
    """Replay every event of ``projection`` from the start of its topics and swap the result in.

    Readers keep the old table until the swap, which renames tables in one transaction: they never see an empty
    or half-built read model. The live consumer's writes wait on the table lock during the swap; the inbox rows
    of the new table replace the old ones, so what it applies afterwards is neither lost nor applied twice.
    """
    using = events_settings.DATABASE
    live = projection.table
    fresh_table = f"{live[:40]}_rebuild_{int(time.time())}"
    fresh_name = f"{projection.name}#rebuild"
    fresh = projection.bound_to(fresh_table, name=fresh_name)
    InboxEvent.objects.using(using).filter(subscriber=fresh_name).delete()
    create_table(fresh.table_model, using)

    with rebuilding(tracer(), projection.name):
        replay = get_transport().replay(registry.topics([projection]), events_settings.GROUP_ID)
        try:
            applied = _catch_up(replay, fresh, using)
            log(f"replayed {applied} events into {fresh_table}")
            connection = connections[using]
            with transaction.atomic(using=using):
                with connection.cursor() as cursor:
                    if connection.vendor == "postgresql":
                        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(live)} IN ACCESS EXCLUSIVE MODE")
                    applied += _catch_up(replay, fresh, using)
                    _swap(cursor, connection, live, fresh_table)
                InboxEvent.objects.using(using).filter(subscriber=projection.name).delete()
                InboxEvent.objects.using(using).filter(subscriber=fresh_name).update(subscriber=projection.name)
            log(f"swapped {fresh_table} in as {live}")
            return applied
        finally:
            replay.close()


def _catch_up(replay: Replay, fresh: Projection, using: str) -> int:
    """Replay up to the ends as they are now; returns the number of events applied."""
    ends = replay.ends()
    applied = 0
    skipped: list[str] = []
    while True:
        positions = replay.positions()
        if all(positions.get(key, 0) >= end or end == 0 for key, end in ends.items()):
            if skipped:
                logger.warning("rebuild of %s skipped %d failing events: %s", fresh.name, len(skipped), skipped[:5])
            return applied
        events = []
        for message in replay.poll(1000, 1.0):
            try:
                event = Event.from_json(message.value)
            except InvalidEvent:
                continue  # dead-lettered by the live consumer already
            if refusal(event, message.topic) is None:  # a refused one was dead-lettered live, too
                events.append(event)
        with transaction.atomic(using=using):
            try:
                with transaction.atomic(using=using):
                    applied += apply_events(events, [fresh], using=using)
            except Exception:
                applied += _apply_one_by_one(events, fresh, using, skipped)


def _apply_one_by_one(events: list[Event], fresh: Projection, using: str, skipped: list[str]) -> int:
    """A batch failed: apply its events one at a time, skipping those that fail, as the live consumer did."""
    applied = 0
    for event in events:
        try:
            with transaction.atomic(using=using):
                applied += apply_events([event], [fresh], using=using)
        except UnsupportedVersion:
            continue  # dead-lettered by the live consumer, as a failing event was
        except Exception as error:
            skipped.append(f"{event.type} {event.id}: {error}")
    return applied


def _swap(cursor, connection, live: str, fresh: str) -> None:  # type: ignore[no-untyped-def]
    quote = connection.ops.quote_name
    retired = f"{live[:40]}_retired_{int(time.time())}"
    cursor.execute(f"ALTER TABLE {quote(live)} RENAME TO {quote(retired)}")
    cursor.execute(f"ALTER TABLE {quote(fresh)} RENAME TO {quote(live)}")
    cursor.execute(f"DROP TABLE {quote(retired)}")
