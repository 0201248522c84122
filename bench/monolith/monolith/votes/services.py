"""vote-service's vote_cast, checked against the polls and choices tables of the same database instead of read
models, and without an event; the tally is kept the same way."""

import random
import uuid
from datetime import datetime
from typing import NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from event_contracts.polls import poll_is_open_sql
from service_kit.errors import ApplicationError, Conflict, NotFound

from monolith.choices.models import Choice
from monolith.polls.models import Poll
from monolith.votes.models import ChoiceTally, Vote

_VOTE = Vote._meta.db_table
# The same check as vote-service's, in the insert that records the vote: its choice belongs to its poll and the
# poll is open; a vote it refuses is then validated read by read, for the error to answer.
_VOTE_INSERT_IF_VALID = (
    f"INSERT INTO {_VOTE} (id, poll_id, choice_id, voter_id, created_at) SELECT %s, %s, %s, %s, %s "
    f"WHERE EXISTS (SELECT 1 FROM {Poll._meta.db_table} p JOIN {Choice._meta.db_table} c ON c.poll_id = p.id "
    f"WHERE p.id = %s AND c.id = %s AND {poll_is_open_sql(status='p.status', closes_at='p.closes_at')})"
)
_TALLY_ADD = (
    "INSERT INTO votes_choice_tally (poll_id, choice_id, shard, votes) VALUES (%s, %s, %s, 1) "
    "ON CONFLICT (poll_id, choice_id, shard) DO UPDATE SET votes = votes_choice_tally.votes + 1"
)


def vote_cast(*, poll_id: uuid.UUID, choice_id: uuid.UUID, voter_id: str) -> Vote:
    vote = Vote(id=uuid.uuid4(), poll_id=poll_id, choice_id=choice_id, voter_id=voter_id, created_at=timezone.now())
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_VOTE_INSERT_IF_VALID, [vote.id, poll_id, choice_id, voter_id, vote.created_at,
                                                       poll_id, choice_id, vote.created_at])
                if cursor.rowcount == 0:
                    _refuse(poll_id=poll_id, choice_id=choice_id, now=vote.created_at)
            Poll.objects.filter(pk=poll_id).update(total_votes=F("total_votes") + 1)
            with connection.cursor() as cursor:
                cursor.execute(_TALLY_ADD, [poll_id, choice_id, random.randrange(ChoiceTally.SHARDS)])
    except IntegrityError as error:
        if not Vote.objects.filter(poll_id=poll_id, voter_id=voter_id).exists():
            raise
        raise Conflict("you have already voted in this poll", code="already_voted") from error
    return vote


def _refuse(*, poll_id: uuid.UUID, choice_id: uuid.UUID, now: datetime) -> NoReturn:
    poll = Poll.objects.only("id", "status", "closes_at").filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("no such poll", code="poll_not_found", details={"poll_id": str(poll_id)})
    choice_poll_id = Choice.objects.filter(pk=choice_id).values_list("poll_id", flat=True).first()
    if choice_poll_id is None:
        raise NotFound("no such choice", code="choice_not_found", details={"choice_id": str(choice_id)})
    if choice_poll_id != poll.id:
        raise ApplicationError("this choice belongs to another poll", code="choice_not_in_poll", status=400)
    raise Conflict("this poll is closed", code="poll_closed")
