"""Rebuilding a read model: replay its topics into a fresh table, then swap it in under a lock."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from django.db import connections, transaction

from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event, InvalidEvent
from .kafka import make_consumer
from .models import InboxEvent
from .projection import Projection, create_table
from .registry import UnsupportedVersion, registry

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

    consumer = make_consumer(**{"group.id": f"{events_settings.GROUP_ID}.rebuild.{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        partitions = _partitions(consumer, registry.topics([projection]))
        consumer.assign(partitions)
        applied = _catch_up(consumer, partitions, fresh, using)
        log(f"replayed {applied} events into {fresh_table}")
        connection = connections[using]
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(f"LOCK TABLE {connection.ops.quote_name(live)} IN ACCESS EXCLUSIVE MODE")
                applied += _catch_up(consumer, partitions, fresh, using)
                _swap(cursor, connection, live, fresh_table)
            InboxEvent.objects.using(using).filter(subscriber=projection.name).delete()
            InboxEvent.objects.using(using).filter(subscriber=fresh_name).update(subscriber=projection.name)
        log(f"swapped {fresh_table} in as {live}")
        return applied
    finally:
        consumer.close()


def _partitions(consumer, topics: list[str]) -> list[TopicPartition]:  # type: ignore[no-untyped-def]
    metadata = consumer.list_topics(timeout=10)
    return [
        TopicPartition(topic, partition, OFFSET_BEGINNING)
        for topic in topics
        if topic in metadata.topics
        for partition in metadata.topics[topic].partitions
    ]


def _catch_up(consumer, partitions: list[TopicPartition], fresh: Projection, using: str) -> int:  # type: ignore[no-untyped-def]
    """Consume every partition up to the log end as it is now; returns the number of events applied."""
    ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
    applied = 0
    skipped: list[str] = []
    while True:
        positions = {(tp.topic, tp.partition): tp.offset for tp in consumer.position(partitions)}
        if all(positions[key] >= end or end == 0 for key, end in ends.items()):
            if skipped:
                logger.warning("rebuild of %s skipped %d failing events: %s", fresh.name, len(skipped), skipped[:5])
            return applied
        messages = [m for m in consumer.consume(1000, 1.0) if m.error() is None]
        events = []
        for message in messages:
            try:
                events.append(Event.from_json(message.value() or b""))
            except InvalidEvent:
                continue  # dead-lettered by the live consumer already
        with transaction.atomic(using=using):
            try:
                with transaction.atomic(using=using):
                    applied += apply_events(events, [fresh], using=using)
            except Exception:
                applied += _apply_one_by_one(events, fresh, using, skipped)
        partitions = consumer.position(partitions)


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
