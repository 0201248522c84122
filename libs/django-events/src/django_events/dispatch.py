"""Applying events to subscribers exactly once: the subscriber's writes and its inbox rows commit together."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.utils import timezone

from .conf import events_settings
from .context import correlation
from .envelope import Event
from .metrics import consumer_duplicates, consumer_ignored, consumer_processed, projection_lag
from .models import InboxEvent
from .projection import Projection, batched_upserts
from .registry import Subscriber, UnsupportedVersion, registry
from .rows import insert_rows
from .tracing import processing, tracer
from .upcasting import upcast_once


def apply_events(
    events: Sequence[Event],
    subscribers: Iterable[Subscriber] | None = None,
    *,
    using: str | None = None,
    traced: bool = False,
) -> int:
    """Apply ``events`` in order to their subscribers; call inside a transaction. Returns how many applied.

    An event a subscriber already applied (a redelivery, or a relay's resend) is skipped for that subscriber. An
    event goes only to the subscribers that take its source (``@handles(..., sources=...)``); one that none takes
    applies nothing and leaves no inbox row, like a type nobody handles.
    ``traced``: events received live, each applied in a span continuing its publisher's trace (a replay is not).
    """
    using = using or events_settings.DATABASE
    chosen = list(registry.subscribers.values() if subscribers is None else subscribers)
    by_type: dict[str, list[Subscriber]] = {}
    only_from: dict[tuple[str, str], frozenset[str]] = {}
    for subscriber in chosen:
        for event_type in subscriber.event_types():
            by_type.setdefault(event_type, []).append(subscriber)
        for event_type, sources in subscriber.sources().items():
            only_from[subscriber.name, event_type] = sources
    routed = [(event, _takers(event, by_type[event.type], only_from)) for event in events if event.type in by_type]
    relevant = [(event, takers) for event, takers in routed if takers]
    _observe_ignored([event for event, takers in routed if not takers])
    if not relevant:
        return 0
    claimed = _claim(relevant, using)
    active = tracer() if traced else None
    applied = 0
    with batched_upserts(using):
        for event, takers in relevant:
            for subscriber in takers:
                if (subscriber.name, event.id) not in claimed:
                    consumer_duplicates.labels(events_settings.SERVICE or "").inc()
                    continue
                claimed.discard((subscriber.name, event.id))  # the same event twice in one batch applies once
                # What a handler publishes continues the chain of the event that caused it.
                with correlation(event.correlation_id or str(event.id)), processing(active, event, subscriber.name):
                    _apply(subscriber, event)
                applied += 1
    _observe(relevant)
    return applied


def _takers(
    event: Event, subscribers: list[Subscriber], only_from: dict[tuple[str, str], frozenset[str]]
) -> list[Subscriber]:
    """The subscribers of the event's type that take its source."""
    if not only_from:
        return subscribers
    return [s for s in subscribers if (only := only_from.get((s.name, event.type))) is None or event.source in only]


def _apply(subscriber: Subscriber, event: Event) -> None:
    """Applies ``event`` at the first version the subscriber handles, upcasting it one version at a time
    (``upcasting``) until the subscriber handles it or no upcaster takes it further."""
    first: UnsupportedVersion | None = None
    while True:
        try:
            subscriber.apply(event)
            return
        except UnsupportedVersion as error:
            first = first or error
            upcast = upcast_once(event)
            if upcast is None:
                if error is first:
                    raise
                # The dead letter's reason names the version that was sent, and how far the upcasters took it.
                raise UnsupportedVersion(f"{first} (upcast to v{event.version}, not handled either)") from error
            event = upcast


def _claim(relevant: Sequence[tuple[Event, list[Subscriber]]], using: str) -> set[tuple[str, uuid.UUID]]:
    """Insert the inbox rows first and return those that were new: one statement finds what was already applied,
    and a second consumer of the same partition (during a rebalance) waits on the first one's rows, then skips.
    Sorted, so two such batches lock their rows in one order and wait for each other rather than deadlock."""
    wanted = sorted(
        {(subscriber.name, event.id) for event, takers in relevant for subscriber in takers},
        key=lambda pair: (pair[0], pair[1].int),
    )
    now = timezone.now()
    inserted = insert_rows(
        InboxEvent,
        [{"subscriber": name, "event_id": event_id, "processed_at": now} for name, event_id in wanted],
        using=using,
        conflict=["subscriber", "event_id"],
        returning=["subscriber", "event_id"],
    )
    # SQLite returns the UUID as the hex text it stores.
    return {(name, event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id)) for name, event_id in inserted}


def _observe(relevant: Sequence[tuple[Event, list[Subscriber]]]) -> None:
    service = events_settings.SERVICE or ""
    for event_type, count in Counter(event.type for event, _ in relevant).items():
        consumer_processed.labels(service, event_type).inc(count)
    now = datetime.now(UTC)
    last: dict[str, Event] = {}
    for event, takers in relevant:
        for subscriber in takers:
            if isinstance(subscriber, Projection):
                last[subscriber.name] = event
    for name, event in last.items():
        projection_lag.labels(service, name).set(max((now - event.occurred_at).total_seconds(), 0.0))


def _observe_ignored(events: Sequence[Event]) -> None:
    service = events_settings.SERVICE or ""
    for (event_type, source), count in Counter((event.type, event.source) for event in events).items():
        consumer_ignored.labels(service, event_type, source).inc(count)
