"""Subscribers: plain handler functions and projections, registered by event type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .contracts import payload_readers
from .envelope import Event, topic_for


class UnsupportedVersion(Exception):
    """An event version no subscriber of this service understands: dead-lettered, never guessed at."""


class Subscriber(Protocol):
    """What the consumer needs of a handler or a projection. ``name`` is read-only here, so a projection's class
    attribute satisfies it as well as a function subscriber's field."""

    @property
    def name(self) -> str: ...

    def event_types(self) -> set[str]: ...

    def apply(self, event: Event) -> None: ...


@dataclass
class FunctionSubscriber:
    name: str
    types: set[str]
    versions: set[int]
    function: Callable[[Any], Any]  # takes the Event, or the typed payload it is annotated with

    def event_types(self) -> set[str]:
        return self.types

    def apply(self, event: Event) -> None:
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


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def handler(*event_types: str, versions: Iterable[int] = (1,)) -> Callable[[HandlerT], HandlerT]:
    """Register a plain function for one or more event types::

        @django_events.handler("user.registered")
        def welcome(event): ...

    A function annotated with a ``Payload`` receives the typed payload, of the versions its payloads name.
    """
    if not event_types:
        raise TypeError("handler() needs at least one event type")

    def register(function: HandlerT) -> HandlerT:
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
