"""Applying events to subscribers exactly once: the subscriber's writes and its inbox rows commit together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from .conf import events_settings
from .context import correlation
from .envelope import Event
from .metrics import consumer_duplicates, consumer_processed, projection_lag
from .models import InboxEvent
from .projection import Projection, batched_upserts
from .registry import Subscriber, registry


def apply_events(
    events: Sequence[Event], subscribers: Iterable[Subscriber] | None = None, *, using: str | None = None
) -> int:
    """Apply ``events`` in order to their subscribers; call inside a transaction. Returns how many applied.

    An event a subscriber already applied (a redelivery, or a relay's resend) is skipped for that subscriber.
    """
    using = using or events_settings.DATABASE
    chosen = list(registry.subscribers.values() if subscribers is None else subscribers)
    by_type: dict[str, list[Subscriber]] = {}
    for subscriber in chosen:
        for event_type in subscriber.event_types():
            by_type.setdefault(event_type, []).append(subscriber)
    relevant = [e for e in events if e.type in by_type]
    if not relevant:
        return 0
    names = {s.name for s in chosen}
    done = set(
        InboxEvent.objects.using(using)
        .filter(event_id__in={e.id for e in relevant}, subscriber__in=names)
        .values_list("subscriber", "event_id")
    )
    inbox_rows = []
    applied = 0
    with batched_upserts(using):
        for event in relevant:
            for subscriber in by_type[event.type]:
                if (subscriber.name, event.id) in done:
                    consumer_duplicates.labels(events_settings.SERVICE or "").inc()
                    continue
                # What a handler publishes continues the chain of the event that caused it.
                with correlation(event.correlation_id or str(event.id)):
                    subscriber.apply(event)
                done.add((subscriber.name, event.id))
                inbox_rows.append(InboxEvent(subscriber=subscriber.name, event_id=event.id))
                applied += 1
    InboxEvent.objects.using(using).bulk_create(inbox_rows)
    _observe(relevant, chosen)
    return applied


def _observe(events: Sequence[Event], subscribers: list[Subscriber]) -> None:
    service = events_settings.SERVICE or ""
    for event in events:
        consumer_processed.labels(service, event.type).inc()
    now = datetime.now(timezone.utc)
    for subscriber in subscribers:
        if isinstance(subscriber, Projection):
            types = subscriber.event_types()
            handled = [e for e in events if e.type in types]
            if handled:
                lag = (now - handled[-1].occurred_at).total_seconds()
                projection_lag.labels(service, subscriber.name).set(max(lag, 0.0))
