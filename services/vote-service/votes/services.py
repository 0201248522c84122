import uuid
from datetime import datetime

import django_events
from django.db import IntegrityError, transaction
from django.db.models import Subquery
from django.utils import timezone
from service_kit.errors import ApplicationError, Conflict, NotFound, NotKnownYet

from votes.models import ChoiceView, PollView, Vote


def _poll_with_choice_poll_id(*, poll_id: uuid.UUID, choice_id: uuid.UUID) -> PollView | None:
    """The poll and the poll its choice belongs to, in one query: the vote path is the hot path."""
    choice_poll_id = ChoiceView.objects.filter(pk=choice_id).values("poll_id")[:1]
    return (
        PollView.objects.annotate(choice_poll_id=Subquery(choice_poll_id))
        .only("id", "status", "closes_at")
        .filter(pk=poll_id)
        .first()
    )


def _validate_vote(*, poll: PollView | None, poll_id: uuid.UUID, choice_id: uuid.UUID, now: datetime) -> None:
    if poll is None:
        raise NotKnownYet("poll", poll_id, service="vote-service")
    if poll.choice_poll_id is None:  # type: ignore[attr-defined]  # annotated by _poll_with_choice_poll_id
        raise NotFound(
            "choice not known to the vote service (yet); check the choice id or try again shortly",
            code="choice_not_found",
            details={"choice_id": str(choice_id)},
        )
    if poll.choice_poll_id != poll.id:  # type: ignore[attr-defined]
        raise ApplicationError(
            "this choice belongs to another poll",
            code="choice_not_in_poll",
            status=400,
            details={"choice_id": ["This choice belongs to another poll."]},
        )
    if not poll.is_open_at(now):
        raise Conflict("this poll is closed", code="poll_closed", details={"poll_id": str(poll_id)})


def _breaks_one_vote_per_voter(*, poll_id: uuid.UUID, voter_id: str) -> bool:
    # Asked after the rollback, so it sees the committed rival; works alike on PostgreSQL and SQLite.
    return Vote.objects.filter(poll_id=poll_id, voter_id=voter_id).exists()


def vote_cast(*, poll_id: uuid.UUID, choice_id: uuid.UUID, voter_id: str) -> Vote:
    now = timezone.now()
    poll = _poll_with_choice_poll_id(poll_id=poll_id, choice_id=choice_id)
    _validate_vote(poll=poll, poll_id=poll_id, choice_id=choice_id, now=now)
    # The atomic block sits inside the try: the IntegrityError must be caught after the rollback, not in a
    # broken transaction.
    try:
        with transaction.atomic():
            vote = Vote.objects.create(poll_id=poll_id, choice_id=choice_id, voter_id=voter_id, created_at=now)
            django_events.publish(
                "vote.cast",
                key=str(poll_id),
                data={
                    "vote_id": str(vote.id),
                    "poll_id": str(poll_id),
                    "choice_id": str(choice_id),
                    "voter_id": voter_id,
                    "created_at": vote.created_at.isoformat(),
                },
            )
    except IntegrityError as error:
        # A concurrent duplicate waits on the unique index for the first transaction, then lands here.
        if not _breaks_one_vote_per_voter(poll_id=poll_id, voter_id=voter_id):
            raise
        raise Conflict(
            "you have already voted in this poll", code="already_voted", details={"poll_id": str(poll_id)}
        ) from error
    return vote
