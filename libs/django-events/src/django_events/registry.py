"""Subscribers: handler functions and projections, each declaring the event types and versions it handles where
it is written (``@handles``), registered explicitly (``subscribe``) and listed by ``routes``."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .contracts import Payload, annotated_payloads, payload_readers
from .envelope import Event, topic_for

# Where @handles leaves its declaration on the function: event type -> versions (None: from the annotation).
HANDLES_ATTRIBUTE = "__django_events_handles__"
# And the sources it applies, for the types whose declaration names them: event type -> sources.
SOURCES_ATTRIBUTE = "__django_events_sources__"


class UnsupportedVersion(Exception):
    """An event version no subscriber of this service understands: dead-lettered, never guessed at."""


class Subscriber(Protocol):
    """What the consumer needs of a handler or a projection. ``name`` is read-only here, so a projection's class
    attribute satisfies it as well as a function subscriber's field."""

    @property
    def name(self) -> str: ...

    def event_types(self) -> set[str]: ...

    def apply(self, event: Event) -> None: ...

    def sources(self) -> Mapping[str, frozenset[str]]:
        """Event type -> the only sources whose events of it apply; a type missing: every source ``OWNERS``
        believes."""
        ...


# Event type -> version -> the payload the function reads it as (None: the raw Event).
Routes = dict[str, dict[int, type[Payload] | None]]

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])


def handles(
    event_type: str, *, versions: Iterable[int] | None = None, sources: Iterable[str] | None = None
) -> Callable[[FunctionT], FunctionT]:
    """Declare that a projection method or a handler function handles ``event_type``::

        @django_events.handles("vote.cast", versions=(1,))
        def on_vote(self, vote: VoteCast) -> None: ...

    Stack it for several types. Without ``versions``, the versions are those of the payloads the event parameter
    is annotated with (``VoteCast``, or a union of a type's versions), or 1 for a raw ``Event``. Any other
    version is dead-lettered with its reason. It only declares: ``subscribe`` registers.

    ``sources`` (default: every source ``OWNERS`` believes) names the only sources whose events of the type it
    applies, such as ``("vote-service",)`` while another believed source announces the same facts too. An event
    from a believed source that no subscriber takes is acknowledged and applies nothing, like a type nobody
    handles; ``OWNERS`` still dead-letters the untrusted.
    """
    if not isinstance(event_type, str) or "." not in event_type:
        raise TypeError(f"handles() takes an event type such as 'vote.cast', not {event_type!r}")
    wanted = None if versions is None else frozenset(versions)
    if wanted is not None and not wanted:
        raise TypeError(f"handles({event_type!r}) names no version")
    applies = None if sources is None else _sources(event_type, sources)

    def mark(function: FunctionT) -> FunctionT:
        if inspect.iscoroutinefunction(function):
            # Called from the consumer's loop it would return a coroutine nobody awaits: the event marked applied
            # in the inbox, and nothing done.
            raise TypeError(f"{function.__qualname__} is async: a handler runs in the consumer's (synchronous) "
                            f"database transaction; write it with def, calling async code through async_to_sync")
        declared: dict[str, frozenset[int] | None] = dict(getattr(function, HANDLES_ATTRIBUTE, {}))
        if event_type in declared:
            raise TypeError(f"{function.__qualname__} declares {event_type!r} twice")
        declared[event_type] = wanted
        setattr(function, HANDLES_ATTRIBUTE, declared)
        if applies is not None:
            setattr(function, SOURCES_ATTRIBUTE, {**declared_sources(function), event_type: applies})
        return function

    return mark


def _sources(event_type: str, sources: Iterable[str]) -> frozenset[str]:
    # A bare string is iterable too: "vote-service" would otherwise mean its letters.
    chosen = frozenset(sources) if not isinstance(sources, str) else None
    if chosen is None or not all(isinstance(source, str) and source for source in chosen):
        raise TypeError(f"handles({event_type!r}) takes sources such as ('vote-service',), not {sources!r}")
    if not chosen:
        raise TypeError(f"handles({event_type!r}) names no source")
    return chosen


def declared_sources(function: Any) -> dict[str, frozenset[str]]:
    """The sources ``@handles`` named on ``function``, per event type; a type it named none for is missing."""
    return dict(getattr(function, SOURCES_ATTRIBUTE, {}))


def declared_types(function: Any) -> dict[str, frozenset[int] | None]:
    """What ``@handles`` declared on ``function`` (a function or a bound method); empty when undecorated."""
    return dict(getattr(function, HANDLES_ATTRIBUTE, {}))


def routes_of(function: Any, declared: dict[str, frozenset[int] | None]) -> Routes:
    """The versions of each declared type and the payload each is read as, checked against the annotation:
    a declared version the annotated payloads do not read is a mistake found at ``subscribe``, not at 3 a.m."""
    target = getattr(function, "__func__", function)
    readers = _typed_readers(target)
    routes: Routes = {}
    for event_type, versions in declared.items():
        typed = {version: payload for (kind, version), payload in readers.items() if kind == event_type}
        if readers and not typed:
            names = ", ".join(sorted(p.__name__ for p in readers.values()))
            raise TypeError(f"{target.__qualname__} handles {event_type!r} but reads {names}, none of its payloads")
        chosen = versions if versions is not None else (frozenset(typed) or frozenset({1}))
        missing = sorted(chosen - set(typed)) if readers else []
        if missing:
            raise TypeError(f"{target.__qualname__} handles {event_type} v{missing[0]} but reads no payload of it")
        routes[event_type] = {version: typed.get(version) for version in sorted(chosen)}
    return routes


def _typed_readers(function: Any) -> dict[tuple[str, int], type[Payload]]:
    return {(payload.event_type, payload.version): payload for payload in annotated_payloads(function)}


def call_route(function: Callable[[Any], Any], routes: Routes, event: Event) -> None:
    versions = routes.get(event.type, {})
    if event.version not in versions:
        raise UnsupportedVersion(f"unsupported version {event.version} of {event.type}")
    payload = versions[event.version]
    function(payload.of(event) if payload is not None else event)


@dataclass
class FunctionSubscriber:
    name: str
    types: set[str]
    versions: set[int]
    function: Callable[[Any], Any]  # takes the Event, or the typed payload it is annotated with
    # Set for a function declared with @handles; None for the deprecated handler() form (versions per function).
    routes: Routes | None = None
    only_from: dict[str, frozenset[str]] = field(default_factory=dict)

    def event_types(self) -> set[str]:
        return self.types

    def sources(self) -> Mapping[str, frozenset[str]]:
        return self.only_from

    def apply(self, event: Event) -> None:
        if self.routes is not None:
            call_route(self.function, self.routes, event)
            return
        readers = payload_readers(self.function)
        if event.version not in (readers or self.versions):
            raise UnsupportedVersion(f"unsupported version {event.version} of {event.type}")
        self.function(readers[event.version].of(event) if readers else event)


@dataclass
class Registry:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber.name] = subscriber

    def event_types(self, subscribers: Iterable[Subscriber] | None = None) -> set[str]:
        chosen = self.subscribers.values() if subscribers is None else subscribers
        return {t for s in chosen for t in s.event_types()}

    def topics(self, subscribers: Iterable[Subscriber] | None = None) -> list[str]:
        return sorted({topic_for(t) for t in self.event_types(subscribers)})


registry = Registry()


def function_subscriber(function: Callable[..., Any]) -> FunctionSubscriber:
    declared = declared_types(function)
    if not declared:
        raise TypeError(f"{function.__qualname__} declares no event type: decorate it with @django_events.handles(...)")
    routes = routes_of(function, declared)
    return FunctionSubscriber(
        name=f"{function.__module__}.{function.__qualname__}",
        types=set(routes),
        versions={v for by_version in routes.values() for v in by_version},
        function=function,
        routes=routes,
        only_from=declared_sources(function),
    )


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def handler(*event_types: str, versions: Iterable[int] = (1,)) -> Callable[[HandlerT], HandlerT]:
    """Deprecated (removed in 1.0): registers a function as it is imported. Declare it with ``@handles`` and
    register it with ``subscribe`` in your AppConfig.ready()."""
    if not event_types:
        raise TypeError("handler() needs at least one event type")

    def register(function: HandlerT) -> HandlerT:
        warnings.warn(
            f"@django_events.handler is deprecated and goes in django-events 1.0: declare {function.__qualname__} "
            f"with @django_events.handles({event_types[0]!r}) and register it with django_events.subscribe() "
            "in your AppConfig.ready()",
            DeprecationWarning,
            stacklevel=2,
        )
        registry.add(
            FunctionSubscriber(
                name=f"{function.__module__}.{function.__qualname__}",
                types=set(event_types),
                versions=set(versions),
                function=function,
            )
        )
        return function

    return register
