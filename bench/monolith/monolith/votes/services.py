"""vote-service's vote_cast, checked against the polls and choices tables of the same database instead of read
models, and without an event; the tally is kept the same way."""

import random
import uuid

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from service_kit.errors import ApplicationError, Conflict, NotFound

from monolith.choices.models import Choice
from monolith.polls.models import Poll
from monolith.votes.models import ChoiceTally, Vote

_TALLY_ADD = (
    "INSERT INTO votes_choice_tally (poll_id, choice_id, shard, votes) VALUES (%s, %s, %s, 1) "
    "ON CONFLICT (poll_id, choice_id, shard) DO UPDATE SET votes = votes_choice_tally.votes + 1"
)


def vote_cast(*, poll_id: uuid.UUID, choice_id: uuid.UUID, voter_id: str) -> Vote:
    now = timezone.now()
    poll = Poll.objects.only("id", "status", "closes_at").filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("no such poll", code="poll_not_found", details={"poll_id": str(poll_id)})
    choice_poll_id = Choice.objects.filter(pk=choice_id).values_list("poll_id", flat=True).first()
    if choice_poll_id is None:
        raise NotFound("no such choice", code="choice_not_found", details={"choice_id": str(choice_id)})
    if choice_poll_id != poll.id:
        raise ApplicationError("this choice belongs to another poll", code="choice_not_in_poll", status=400)
    if not poll.is_open_at(now):
        raise Conflict("this poll is closed", code="poll_closed")
    try:
        with transaction.atomic():
            vote = Vote.objects.create(poll_id=poll_id, choice_id=choice_id, voter_id=voter_id, created_at=now)
            Poll.objects.filter(pk=poll_id).update(total_votes=F("total_votes") + 1)
            with connection.cursor() as cursor:
                cursor.execute(_TALLY_ADD, [poll_id, choice_id, random.randrange(ChoiceTally.SHARDS)])
    except IntegrityError as error:
        if not Vote.objects.filter(poll_id=poll_id, voter_id=voter_id).exists():
            raise
        raise Conflict("you have already voted in this poll", code="already_voted") from error
    return vote
