"""Upcasters: version N of an event's data converted to version N+1, so a subscriber sees only its own version.

A producer that publishes v2 of an event leaves v1 events in the topics (and in flight); a consumer written for
v2 would otherwise have to read both forever. An upcaster, declared once by the consumer, converts v1 data to v2
as events are applied, live and in a rebuild's replay alike (both go through ``dispatch.apply_events``)::

    @django_events.upcasts("vote.cast", from_version=1)
    def vote_cast_v1_to_v2(data: dict) -> dict:
        return {**data, "weight": 1}

    class VotesConfig(AppConfig):
        def ready(self) -> None:
            django_events.register_upcasters(vote_cast_v1_to_v2)

A subscriber that handles the event's own version gets it unchanged; one that does not gets it upcast, one
version at a time, to the first version it handles. With no upcaster to a version it handles, the event is
dead-lettered as an unsupported version, as before. The event keeps its id, so the inbox still applies it once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from .envelope import Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTS_ATTRIBUTE = "__django_events_upcasts__"
F = TypeVar("F", bound=Upcaster)

# (event type, from version) -> the function giving the data of from version + 1.
_upcasters: dict[tuple[str, int], Upcaster] = {}


def upcasts(event_type: str, *, from_version: int) -> Callable[[F], F]:
    """Declares that the function converts ``event_type``'s data from ``from_version`` to the next version. It
    only declares: ``register_upcasters`` registers."""

    def mark(function: F) -> F:
        setattr(function, UPCASTS_ATTRIBUTE, (event_type, from_version))
        return function

    return mark


def register_upcasters(*functions: Upcaster) -> None:
    """Registers ``@upcasts`` functions with this service's consumer (in ``AppConfig.ready()``); a second
    upcaster for one type and version replaces the first."""
    for function in functions:
        declared = getattr(function, UPCASTS_ATTRIBUTE, None)
        if declared is None:
            raise TypeError(f"{function!r} declares nothing: decorate it with @django_events.upcasts(...)")
        _upcasters[declared] = function


def unregister_upcasters(*functions: Upcaster) -> None:
    for function in functions:
        declared = getattr(function, UPCASTS_ATTRIBUTE, None)
        if declared is not None and _upcasters.get(declared) is function:
            del _upcasters[declared]


def upcast_once(event: Event) -> Event | None:
    """``event`` at its next version, or None when no upcaster takes it there."""
    upcaster = _upcasters.get((event.type, event.version))
    if upcaster is None:
        return None
    return dataclasses.replace(event, version=event.version + 1, data=upcaster(dict(event.data)))


def registered() -> list[tuple[str, int, Upcaster]]:
    """Every registered upcaster as (event type, from version, function), sorted: what ``manage.py
    events_handlers`` lists beside the subscribers, so that a reader of a handler finds what converts its input."""
    return [(event_type, version, _upcasters[event_type, version]) for event_type, version in sorted(_upcasters)]
