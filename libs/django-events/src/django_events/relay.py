"""The relay: sends committed outbox rows to the broker and marks them sent once the broker has acknowledged them."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from .conf import events_settings
from .envelope import message_headers
from .faults import failpoint
from .metrics import outbox_backlog, outbox_oldest_age, relay_failed, relay_sent
from .models import OutboxEvent
from .tracing import headers_of, sending, tracer, unacknowledged
from .transport import Message, Publisher, get_transport

logger = logging.getLogger("django_events.relay")

# Namespace of the relay's advisory locks (pg_try_advisory_xact_lock(namespace, shard)).
LOCK_NAMESPACE = 0x0E7E
_UNSENT_PROBE = f"SELECT 1 FROM {OutboxEvent._meta.db_table} WHERE sent_at IS NULL LIMIT 1"


@dataclass
class Batch:
    rows: list[tuple[Any, ...]]
    errors: dict[int, str] = field(default_factory=dict)
    acked: list[int] = field(default_factory=list)


class Relay:
    """One relay process. Several may run against one PostgreSQL database.

    Each claim takes transaction-scoped advisory locks on outbox shards (a hash of the event key), so a key is
    only ever sent by one relay at a time and in commit order; rows are marked sent in that transaction only
    after the broker acknowledged them. A crash before the mark resends: consumers' inboxes make that harmless.
    """

    def __init__(self, publisher: Publisher | None = None, *, stop: threading.Event | None = None) -> None:
        self.using = events_settings.DATABASE
        self.stop = stop or threading.Event()
        self.publisher = publisher or get_transport().publisher(stop=self.stop)
        self.batch_size = events_settings.RELAY_BATCH_SIZE
        self.service = events_settings.SERVICE or ""
        # Counters exist at 0 from the start, so a healthy relay shows 0 failures rather than no data.
        relay_sent.labels(self.service)
        relay_failed.labels(self.service)
        self.heartbeat = time.monotonic()
        self._relaying = False
        self._next_housekeeping = 0.0

    def ready(self) -> bool:
        """Whether its last round claimed, sent and marked without failing."""
        return self._relaying

    @property
    def vendor(self) -> str:
        return connections[self.using].vendor

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                sent = self.send_batch()
                failures = 0
                self._relaying = True
            except Exception:
                failures += 1
                self._relaying = False
                relay_failed.labels(self.service).inc()
                logger.exception("relay batch failed; backing off")
                connections[self.using].close_if_unusable_or_obsolete()
                self.stop.wait(min(30.0, 0.5 * 2**failures))
                continue
            self._housekeeping()
            if sent < self.batch_size:
                # Polled, not woken by LISTEN/NOTIFY: a NOTIFY makes PostgreSQL take one lock on the whole server at
                # every commit that sent it, held through the commit's WAL flush, so the outbox writes of every
                # service on that server would commit one at a time. Between polls the outbox gathers a batch.
                self.stop.wait(events_settings.RELAY_POLL_INTERVAL)
        # What is still in flight is unmarked and is sent again by the next relay: no need to wait for the broker.
        self.publisher.close(1.0)

    def send_batch(self) -> int:
        """Claim, send and mark one batch; returns how many rows were acknowledged."""
        if not self._has_unsent():
            return 0
        with self._claiming():
            batch = Batch(self._claim())
            if not batch.rows:
                return 0
            self._send(batch)
            failpoint("relay.after_send")
            self._mark(batch)
        relay_sent.labels(self.service).inc(len(batch.acked))
        if batch.errors:
            relay_failed.labels(self.service).inc(len(batch.errors))
            raise RuntimeError(f"{len(batch.errors)} events not acknowledged: {next(iter(batch.errors.values()))}")
        return len(batch.acked)

    def _has_unsent(self) -> bool:
        """An idle poll costs one indexed read, in SQL written once: not the claim's transaction and locks, nor
        building the ORM's query on every poll of every relay."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(_UNSENT_PROBE)
            return cursor.fetchone() is not None

    def _claiming(self) -> AbstractContextManager[Any]:
        """On PostgreSQL the shard locks last as long as the claiming transaction, which takes no row lock: writers
        go on while the broker is waited for. SQLite has one write lock per file, and a transaction there would
        hold it across the broker's I/O, stalling every write of the service while the broker is away; the claim
        is a plain read instead, and only the marking takes the lock, briefly. Two relays on one SQLite file may
        then send a row twice, which consumers' inboxes drop, but never out of order."""
        if self.vendor == "postgresql":
            atomic: AbstractContextManager[Any] = transaction.atomic(using=self.using)
            return atomic
        return nullcontext()

    def _mark(self, batch: Batch) -> None:
        with transaction.atomic(using=self.using):
            if batch.acked:
                OutboxEvent.objects.using(self.using).filter(seq__in=batch.acked).update(sent_at=timezone.now())
            if batch.errors:
                OutboxEvent.objects.using(self.using).filter(seq__in=list(batch.errors)).update(
                    attempts=F("attempts") + 1, last_error=next(iter(batch.errors.values()))[:2000]
                )

    def resend_sent(self) -> int:
        """Marks every retained row that was already sent as unsent again, so the relay sends it anew: for a
        broker that lost its log (an in-memory development broker restarted). Consumers' inboxes drop what they
        had applied. Run it before the relay starts, with no other relay running, to keep each key's order."""
        return OutboxEvent.objects.using(self.using).filter(sent_at__isnull=False).update(sent_at=None)

    def _claim(self) -> list[tuple[Any, ...]]:
        unsent = OutboxEvent.objects.using(self.using).filter(sent_at__isnull=True)
        if self.vendor == "postgresql":
            with connections[self.using].cursor() as cursor:
                # Right after a burst the statistics still say the outbox has few unsent rows, and the planner
                # bitmap-scans and sorts the whole backlog on every claim (bench/README.md, "the relay's claim
                # under a backlog").
                # Walking the unsent index in seq order and stopping at the batch size is cheapest at any size.
                cursor.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
                cursor.execute(
                    "SELECT s FROM generate_series(0, %s) AS s WHERE pg_try_advisory_xact_lock(%s, s)",
                    [events_settings.RELAY_SHARDS - 1, LOCK_NAMESPACE],
                )
                shards = [row[0] for row in cursor.fetchall()]
            if not shards:
                return []
            unsent = unsent.filter(shard__in=shards)
        rows = unsent.order_by("seq").values_list(
            "seq", "topic", "key", "payload", "event_id", "event_type", "event_version", "trace_context"
        )
        return list(rows[: self.batch_size])

    def _send(self, batch: Batch) -> None:
        messages = [
            Message(
                topic,
                key=key.encode(),
                value=payload.encode(),
                headers=message_headers(event_id=event_id, event_type=event_type, version=event_version, payload=payload)
                + headers_of(trace_context),
            )
            for _, topic, key, payload, event_id, event_type, event_version, trace_context in batch.rows
        ]
        with sending(tracer(), [m.topic for m in messages], [row[-1] for row in batch.rows]) as span:
            outcome = self.publisher.send(messages, events_settings.RELAY_SEND_TIMEOUT + 5)
            if span is not None:
                unacknowledged(span, [error for error in outcome if error is not None])
        for (seq, *_), error in zip(batch.rows, outcome, strict=True):
            if error is None:
                batch.acked.append(seq)
            else:
                batch.errors[seq] = error

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + 5.0
        try:
            update_backlog_metrics(self.using)
            purge_sent(self.using)
        except DatabaseError as error:  # it waits for the next round; the next batch backs off if the outage lasts
            logger.warning("outbox housekeeping skipped: %s", error)
            connections[self.using].close_if_unusable_or_obsolete()


def update_backlog_metrics(using: str) -> None:
    stats = OutboxEvent.objects.using(using).filter(sent_at__isnull=True).aggregate(n=Count("seq"), oldest=Min("created_at"))
    service = events_settings.SERVICE or ""
    outbox_backlog.labels(service).set(stats["n"])
    age = (timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0.0
    outbox_oldest_age.labels(service).set(age)


def purge_sent(using: str) -> int:
    cutoff = timezone.now() - timedelta(seconds=events_settings.OUTBOX_RETENTION)
    deleted, _ = OutboxEvent.objects.using(using).filter(sent_at__lt=cutoff).delete()
    return deleted
