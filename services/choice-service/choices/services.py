"""Every write to choices. Each first locks the poll's row in ``PollView``: a poll's choice writers run one
at a time, so positions are assigned without races and the poll's events leave in the order they committed;
the projection's own write to that row (poll closed or deleted) waits for them too."""

import uuid
from typing import Any

import django_events
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from event_contracts.payloads import ChoiceCreated, ChoiceDeleted, ChoiceUpdated
from service_kit.errors import Conflict, Forbidden

from choices.errors import choice_not_found, poll_not_known
from choices.models import Choice, PollView
from choices.selectors import poll_view_get

# A ballot longer than one page of the list (the kit caps pages at 100) is a mistake or abuse.
MAX_CHOICES_PER_POLL = 100


def _poll_for_change(*, poll_id: uuid.UUID, actor_id: str) -> PollView:
    poll = PollView.objects.select_for_update().filter(pk=poll_id).first()
    if poll is None:
        raise poll_not_known(poll_id)
    if poll.owner_id != actor_id:
        raise Forbidden(
            "Only the poll's owner may change its choices.", code="not_owner", details={"poll_id": str(poll_id)}
        )
    if not poll.is_open_at(timezone.now()):
        raise Conflict(
            "This poll is closed: its choices can no longer change.",
            code="poll_closed",
            details={"poll_id": str(poll_id)},
        )
    return poll


def _choice_for_change(*, choice_id: uuid.UUID, actor_id: str) -> Choice:
    choice = Choice.objects.filter(pk=choice_id).first()
    if choice is None:
        raise choice_not_found(choice_id)
    _poll_for_change(poll_id=choice.poll_id, actor_id=actor_id)
    # Read again under the poll's lock: another writer may have changed or deleted it meanwhile.
    choice = Choice.objects.filter(pk=choice_id).first()
    if choice is None:
        raise choice_not_found(choice_id)
    return choice


def _choice_fields(choice: Choice) -> dict[str, Any]:
    return {"choice_id": choice.id, "poll_id": choice.poll_id, "text": choice.text, "position": choice.position}


def _next_position(choices: QuerySet[Choice]) -> int:
    """After the last of a poll's choices (the caller holds the poll's lock)."""
    return (choices.aggregate(last=Max("position"))["last"] or 0) + 1


def choice_create(*, poll_id: uuid.UUID, actor_id: str, text: str) -> Choice:
    # Waits for a poll created a moment ago (its owner's own write) before the transaction: on SQLite that
    # transaction would hold the write lock the consumer needs to record the poll.
    poll_view_get(poll_id=poll_id, wait_for_new=True)
    return _choice_create_in_known_poll(poll_id=poll_id, actor_id=actor_id, text=text)


@transaction.atomic
def _choice_create_in_known_poll(*, poll_id: uuid.UUID, actor_id: str, text: str) -> Choice:
    _poll_for_change(poll_id=poll_id, actor_id=actor_id)
    choices = Choice.objects.filter(poll_id=poll_id)
    if choices.count() >= MAX_CHOICES_PER_POLL:
        raise Conflict(
            f"A poll has at most {MAX_CHOICES_PER_POLL} choices.", code="too_many_choices", details={"poll_id": str(poll_id)}
        )
    choice = Choice.objects.create(poll_id=poll_id, text=text, position=_next_position(choices))
    django_events.publish(ChoiceCreated(**_choice_fields(choice)), key=str(poll_id))
    return choice


@transaction.atomic
def choice_import(created: ChoiceCreated) -> bool:
    """Keeps a choice the monolith created (while the choices seam moves to this service), under its id: False
    when the id is here already (a redelivery, the backfill and the live stream overlapping, or this service's
    own choice). Validated where it was created; announces nothing, being no new choice. Its position is kept
    unless a choice created here in the moment the route moved holds it: then it goes last."""
    list(PollView.objects.select_for_update().filter(pk=created.poll_id))  # positions one writer at a time
    if Choice.objects.filter(pk=created.choice_id).exists():
        return False
    position = created.position
    choices = Choice.objects.filter(poll_id=created.poll_id)
    if choices.filter(position=position).exists():
        position = _next_position(choices)
    Choice.objects.create(id=created.choice_id, poll_id=created.poll_id, text=created.text, position=position)
    return True


@transaction.atomic
def choice_update(*, choice_id: uuid.UUID, actor_id: str, text: str) -> Choice:
    choice = _choice_for_change(choice_id=choice_id, actor_id=actor_id)
    if choice.text == text:
        return choice
    choice.text = text
    choice.save(update_fields=["text"])
    django_events.publish(ChoiceUpdated(**_choice_fields(choice)), key=str(choice.poll_id))
    return choice


@transaction.atomic
def choice_delete(*, choice_id: uuid.UUID, actor_id: str) -> None:
    choice = _choice_for_change(choice_id=choice_id, actor_id=actor_id)
    choice.delete()
    django_events.publish(ChoiceDeleted(choice_id=choice_id, poll_id=choice.poll_id), key=str(choice.poll_id))


@transaction.atomic
def poll_choices_delete(*, poll_id: uuid.UUID | str) -> int:
    """The poll is gone: so are its choices, each announced, whoever owned them."""
    # Waits for a choice_create of this poll in flight, so its choice is seen and deleted here, not orphaned.
    list(PollView.objects.select_for_update().filter(pk=poll_id))
    choices = list(Choice.objects.filter(poll_id=poll_id).order_by("position"))
    for choice in choices:
        django_events.publish(ChoiceDeleted(choice_id=choice.id, poll_id=choice.poll_id), key=str(poll_id))
    Choice.objects.filter(pk__in=[choice.pk for choice in choices]).delete()
    return len(choices)
