"""Every write to polls. Each locks the poll row first, so a poll's events leave in the order its changes
committed, and publishes its event in the same transaction as the change."""

import uuid
from datetime import datetime
from typing import Any, cast

import django_events
from django.db import transaction
from django.utils import timezone
from event_contracts.payloads import PollClosed, PollCreated, PollDeleted, PollStatus, PollUpdated
from service_kit.errors import ApplicationError, Conflict, Forbidden, NotFound

from polls.models import Poll

UNCHANGED: Any = object()


def _poll_for_change(*, poll_id: uuid.UUID, actor_id: str) -> Poll:
    poll = Poll.objects.select_for_update().filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
    if poll.owner_id != actor_id:
        raise Forbidden("Only the poll's owner may change it.", code="not_owner", details={"poll_id": str(poll_id)})
    return poll


def _validate_closes_at(closes_at: datetime | None) -> None:
    if closes_at is not None and closes_at <= timezone.now():
        raise ApplicationError(
            "closes_at: Must be in the future.", code="invalid", details={"closes_at": ["Must be in the future."]}
        )


def _status(poll: Poll) -> PollStatus:
    # The field's choices are the contract's enum.
    return cast(PollStatus, poll.status)


def _poll_updated(poll: Poll) -> PollUpdated:
    return PollUpdated(poll_id=poll.id, question=poll.question, status=_status(poll), closes_at=poll.closes_at)


@transaction.atomic
def poll_create(*, owner_id: str, question: str, closes_at: datetime | None = None) -> Poll:
    _validate_closes_at(closes_at)
    poll = Poll.objects.create(owner_id=owner_id, question=question, closes_at=closes_at)
    created = PollCreated(
        poll_id=poll.id,
        question=poll.question,
        owner_id=poll.owner_id,
        status=_status(poll),
        closes_at=poll.closes_at,
        created_at=poll.created_at,
    )
    django_events.publish(created, key=str(poll.id))
    return poll


def poll_import(created: PollCreated) -> bool:
    """Keeps a poll the monolith created (while the polls seam moves to this service), under its id: False when
    the id is here already (a redelivery, the backfill and the live stream overlapping, or this service's own
    poll). Validated where it was created; announces nothing, being no new poll."""
    _, new = Poll.objects.get_or_create(pk=created.poll_id, defaults={
        "question": created.question, "owner_id": created.owner_id, "status": created.status,
        "closes_at": created.closes_at, "created_at": created.created_at})
    return new


@transaction.atomic
def poll_update(*, poll_id: uuid.UUID, actor_id: str, question: str = UNCHANGED, closes_at: datetime | None = UNCHANGED) -> Poll:
    poll = _poll_for_change(poll_id=poll_id, actor_id=actor_id)
    if poll.status_at(timezone.now()) == Poll.STATUS_CLOSED:
        raise Conflict("This poll is closed: it can no longer change.", code="poll_closed", details={"poll_id": str(poll.id)})
    before = _poll_updated(poll)
    if question is not UNCHANGED:
        poll.question = question
    if closes_at is not UNCHANGED:
        _validate_closes_at(closes_at)
        poll.closes_at = closes_at
    if _poll_updated(poll) == before:
        return poll
    poll.save(update_fields=["question", "closes_at"])
    django_events.publish(_poll_updated(poll), key=str(poll.id))
    return poll


@transaction.atomic
def poll_close(*, poll_id: uuid.UUID, actor_id: str) -> Poll:
    poll = _poll_for_change(poll_id=poll_id, actor_id=actor_id)
    if poll.status == Poll.STATUS_CLOSED:
        raise Conflict("This poll is already closed.", code="poll_closed", details={"poll_id": str(poll.id)})
    poll.status = Poll.STATUS_CLOSED
    poll.closed_at = timezone.now()
    poll.save(update_fields=["status", "closed_at"])
    django_events.publish(PollClosed(poll_id=poll.id, closed_at=poll.closed_at), key=str(poll.id))
    return poll


@transaction.atomic
def poll_delete(*, poll_id: uuid.UUID, actor_id: str) -> None:
    poll = _poll_for_change(poll_id=poll_id, actor_id=actor_id)
    poll.delete()
    django_events.publish(PollDeleted(poll_id=poll_id), key=str(poll_id))
