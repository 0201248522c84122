"""Dead letters a service can act on: recorded by the consumer, listed, redriven or skipped by an operator.

The consumer records each event it gives up on in ``django_events_dead_letter`` (the ``<topic>.dlq`` topic keeps
the broker's copy). A redrive applies the event once more through the same path as the consumer, so a subscriber
that applied it already (the inbox row is there) does not apply it twice. With ``PARK_KEYS`` on, a key with a
dead letter outstanding has its later events held in ``django_events_held_event``; redriving or skipping the
dead letter applies them, in the order they arrived, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event, InvalidEvent
from .metrics import dead_letter_oldest_age, dead_letters_outstanding, held_events, parked_keys
from .models import DeadLetter, HeldEvent
from .provenance import refusal
from .registry import Subscriber, registry
from .wire import Message

logger = logging.getLogger("django_events.dead_letters")


class CannotRedrive(Exception):
    """The dead letter is not outstanding, is not an event, or its handler refused it again."""


@dataclass(frozen=True)
class Redriven:
    dead_letter: DeadLetter
    # (subscriber, event) pairs that took effect; 0 when every subscriber had applied it already.
    applied: int
    # Held events of its key applied after it.
    released: int


def record(message: Message, event: Event | None, reason: str, *, parks: bool, using: str) -> None:
    """Records a dead letter; call in the transaction that stores the message's position."""
    DeadLetter.objects.using(using).bulk_create(
        [DeadLetter(
            event_id=event.id if event else None,
            event_type=event.type if event else "",
            key=event.key[:255] if event else (message.key or b"").decode(errors="replace")[:255],
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            payload=message.value.decode(errors="replace"),
            headers=[[name, value.decode(errors="replace")] for name, value in message.headers],
            reason=reason,
            parks=parks,
        )],
        ignore_conflicts=True,
    )


def parked(pairs: Iterable[tuple[str, str]], *, using: str) -> set[tuple[str, str]]:
    """Which (topic, key) pairs have a dead letter outstanding that parks them; call inside the transaction that
    applies or holds their events. The rows found stay locked until it ends, so a redrive waits for the events
    being held now and releases them too."""
    pairs = set(pairs)
    if not pairs:
        return set()
    found = (
        DeadLetter.objects.using(using)
        .select_for_update(no_key=True)
        .filter(status=DeadLetter.OUTSTANDING, parks=True, topic__in={t for t, _ in pairs}, key__in={k for _, k in pairs})
        .values_list("topic", "key")
    )
    return set(found) & pairs


def hold(message: Message, event: Event, *, using: str) -> None:
    """Holds an event of a parked key; call in the transaction that stores the message's position."""
    HeldEvent.objects.using(using).bulk_create(
        [HeldEvent(event_id=event.id, topic=message.topic, key=event.key, partition=message.partition,
                   offset=message.offset, payload=message.value.decode())],
        ignore_conflicts=True,  # held already, before a crash made the broker deliver it again
    )


def outstanding(*, using: str | None = None) -> list[DeadLetter]:
    using = using or events_settings.DATABASE
    return list(DeadLetter.objects.using(using).filter(status=DeadLetter.OUTSTANDING).order_by("id"))


def held_behind(dead_letter: DeadLetter, *, using: str | None = None) -> int:
    """How many events of the dead letter's key wait for it."""
    if not dead_letter.parks:
        return 0
    using = using or events_settings.DATABASE
    return HeldEvent.objects.using(using).filter(topic=dead_letter.topic, key=dead_letter.key).count()


def redrive(pk: int, *, subscribers: Sequence[Subscriber] | None = None, using: str | None = None) -> Redriven:
    """Applies the dead letter's event to this service's subscribers once more, then its key's held events.

    All in one transaction: if the handler fails again, nothing of it is kept and the dead letter stays
    outstanding (with the new reason) for another try or a skip.
    """
    using = using or events_settings.DATABASE
    chosen = list(registry.subscribers.values() if subscribers is None else subscribers)
    try:
        with transaction.atomic(using=using):
            dead_letter = _outstanding(pk, using)
            try:
                event = Event.from_json(dead_letter.payload)
            except InvalidEvent as error:
                raise CannotRedrive(f"dead letter {pk} is not an event ({error}): skip it") from error
            problem = refusal(event, dead_letter.topic)
            if problem is not None:
                raise CannotRedrive(f"dead letter {pk} is still refused: {problem}")
            try:
                applied = apply_events([event], chosen, using=using)
            except Exception as error:
                raise _Failed(f"{type(error).__name__}: {error}") from error
            dead_letter.status, dead_letter.resolved_at = DeadLetter.REDRIVEN, timezone.now()
            dead_letter.resolution = f"applied to {applied} subscriber(s)" if applied else "applied already"
            dead_letter.save(using=using)
            released = _release(dead_letter, chosen, using)
    except _Failed as failure:
        DeadLetter.objects.using(using).filter(pk=pk).update(reason=str(failure))
        raise CannotRedrive(f"dead letter {pk} failed again: {failure}") from failure
    logger.info("redrove dead letter %s (%s), released %d held event(s)", pk, dead_letter.resolution, released)
    return Redriven(dead_letter, applied, released)


def skip(pk: int, reason: str, *, subscribers: Sequence[Subscriber] | None = None, using: str | None = None) -> int:
    """Gives up on the dead letter for good, saying why; returns how many held events of its key were applied."""
    if not reason.strip():
        raise ValueError("a skip needs a reason")
    using = using or events_settings.DATABASE
    chosen = list(registry.subscribers.values() if subscribers is None else subscribers)
    with transaction.atomic(using=using):
        dead_letter = _outstanding(pk, using)
        dead_letter.status, dead_letter.resolved_at, dead_letter.resolution = DeadLetter.SKIPPED, timezone.now(), reason
        dead_letter.save(using=using)
        released = _release(dead_letter, chosen, using)
    logger.info("skipped dead letter %s (%s), released %d held event(s)", pk, reason, released)
    return released


def update_metrics(*, using: str | None = None) -> None:
    using = using or events_settings.DATABASE
    service = events_settings.SERVICE or ""
    waiting = DeadLetter.objects.using(using).filter(status=DeadLetter.OUTSTANDING)
    stats = waiting.aggregate(n=Count("id"), oldest=Min("dead_lettered_at"))
    dead_letters_outstanding.labels(service).set(stats["n"])
    dead_letter_oldest_age.labels(service).set((timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0.0)
    parked_keys.labels(service).set(waiting.filter(parks=True).values("topic", "key").distinct().count())
    held_events.labels(service).set(HeldEvent.objects.using(using).count())


class _Failed(Exception):
    pass


def _outstanding(pk: int, using: str) -> DeadLetter:
    dead_letter = DeadLetter.objects.using(using).select_for_update().filter(pk=pk).first()
    if dead_letter is None:
        raise CannotRedrive(f"no dead letter {pk}")
    if dead_letter.status != DeadLetter.OUTSTANDING:
        raise CannotRedrive(f"dead letter {pk} is {dead_letter.status} already ({dead_letter.resolution})")
    return dead_letter


def _release(dead_letter: DeadLetter, subscribers: list[Subscriber], using: str) -> int:
    """Applies the held events of the dead letter's key in arrival order, once no other dead letter parks it.

    One that fails becomes the key's dead letter in turn (recorded here, with no broker copy), and the events
    after it stay held behind it.
    """
    if not dead_letter.parks or parked({(dead_letter.topic, dead_letter.key)}, using=using):
        return 0
    released = 0
    for held in HeldEvent.objects.using(using).filter(topic=dead_letter.topic, key=dead_letter.key).order_by("id"):
        message = Message(held.topic, key=held.key.encode(), value=held.payload.encode(), partition=held.partition,
                          offset=held.offset)
        event = Event.from_json(held.payload)
        try:
            with transaction.atomic(using=using):
                apply_events([event], subscribers, using=using)
                held.delete(using=using)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            logger.error("held event %s failed on release: %s", event.id, reason)
            record(message, event, reason, parks=True, using=using)
            held.delete(using=using)
            break
        released += 1
    return released
