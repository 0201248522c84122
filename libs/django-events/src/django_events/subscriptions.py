"""What a service's consumer is subscribed to: ``subscribe()`` registers projections and ``@handles`` functions,
``routes()`` lists them. Apart from registry.py, which projection.py builds on, so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .contracts import payload_readers
from .projection import Projection
from .registry import FunctionSubscriber, Routes, function_subscriber, registry


def subscribe(*subscribers: Any) -> None:
    """Register projections (classes or instances) and ``@handles`` functions with this service's consumer::

        class VotesConfig(AppConfig):
            def ready(self) -> None:
                from votes import projections
                django_events.subscribe(projections.PollViewProjection, projections.void_late_votes)

    Each is checked here: a declared version its annotated payload does not read raises ``TypeError``.
    Subscribing one twice (by name) replaces it. ``python manage.py events_handlers`` lists what is subscribed.
    """
    for subscriber in subscribers:
        if isinstance(subscriber, type) and issubclass(subscriber, Projection):
            subscriber = subscriber()
        if isinstance(subscriber, Projection):
            subscriber.routes()  # checks the declarations now
            registry.add(subscriber)
        elif callable(subscriber):
            registry.add(function_subscriber(subscriber))
        else:
            raise TypeError(f"subscribe() takes projections and @handles functions, not {subscriber!r}")


@dataclass(frozen=True)
class Route:
    event_type: str
    version: int
    subscriber: str
    kind: str  # "projection" or "handler"
    reads: str  # the payload class, or "Event"
    sources: tuple[str, ...] = ()  # the only sources it applies (@handles(..., sources=...)); empty: every one


def routes() -> list[Route]:
    """Every event type and version this service consumes, who handles it and from which sources, sorted: what
    ``manage.py events_handlers`` prints."""
    found = []
    for subscriber in registry.subscribers.values():
        if isinstance(subscriber, Projection):
            by_type, kind = subscriber.routes(), "projection"
        elif isinstance(subscriber, FunctionSubscriber):
            by_type, kind = subscriber.routes or _legacy_routes(subscriber), "handler"
        else:
            continue
        for event_type, by_version in by_type.items():
            sources = tuple(sorted(subscriber.sources().get(event_type, ())))
            for version, payload in by_version.items():
                reads = payload.__name__ if payload is not None else "Event"
                found.append(Route(event_type, version, subscriber.name, kind, reads, sources))
    return sorted(found, key=lambda r: (r.event_type, r.version, r.subscriber))


def _legacy_routes(subscriber: FunctionSubscriber) -> Routes:
    readers = payload_readers(subscriber.function)
    return {t: {v: readers.get(v) for v in (readers or subscriber.versions)} for t in subscriber.types}
