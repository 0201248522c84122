"""Who may publish an event: its type's owner, on its type's own topic.

A broker that authenticates producers (Kafka ACLs, RabbitMQ permissions) lets only a topic's owner write to it,
but it cannot read an envelope: a producer allowed on one topic could still put any type there, and an
administrator's tool can put anything anywhere. The consumer therefore refuses an event whose type does not
belong to the topic it arrived on, or, when ``OWNERS`` names each type's owner, whose ``source`` is not that
owner. A refused event is dead-lettered with the reason and applies nothing. A type may name several owners
while its production moves from one service to another (a monolith handing a seam over): each is believed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .conf import events_settings
from .envelope import Event, topic_for


def owners() -> Mapping[str, str | Sequence[str]] | None:
    """``OWNERS``: event type -> the ``source`` allowed to publish it (or a list of them), or None when any source
    is believed."""
    configured: Mapping[str, str | Sequence[str]] | None = events_settings.OWNERS
    return configured


def refusal(event: Event, topic: str) -> str | None:
    """Why ``event``, received on ``topic``, must not be applied; None when it may."""
    own_topic = topic_for(event.type)
    if topic != own_topic:
        return f"{event.type} arrived on topic {topic}, not on its own topic {own_topic}"
    known = owners()
    if known is None:
        return None
    owner = known.get(event.type)
    if owner is None:
        return f"{event.type} has no owner in OWNERS: its source {event.source!r} cannot be trusted"
    if event.source != owner if isinstance(owner, str) else event.source not in owner:
        return f"source {event.source!r} is not the owner of {event.type} ({owner!r})"
    return None
