"""vote-service's vote_cast, checked against the polls and choices tables of the same database instead of read
models; the tally is kept the same way, and vote.cast published once MONOLITH_EVENTS is on. vote_record applies
a vote.cast taken elsewhere (vote-service, once `/api/votes/` moved there) to the same tables."""

import random
import uuid
from datetime import datetime
from typing import NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from event_contracts.payloads import VoteCast
from event_contracts.polls import poll_is_open_sql
from service_kit.errors import ApplicationError, Conflict, NotFound

from monolith.choices.models import Choice
from monolith.events import publish
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
# Neither the id nor the voter's vote in the poll may exist already.
_VOTE_INSERT_NEW = (
    f"INSERT INTO {_VOTE} (id, poll_id, choice_id, voter_id, created_at) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING"
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
            _count(vote)
            publish(vote_cast_event(vote), key=str(poll_id))
    except IntegrityError as error:
        if not Vote.objects.filter(poll_id=poll_id, voter_id=voter_id).exists():
            raise
        raise Conflict("You have already voted in this poll.", code="already_voted") from error
    return vote


def vote_cast_event(vote: Vote) -> VoteCast:
    return VoteCast(vote_id=vote.id, poll_id=vote.poll_id, choice_id=vote.choice_id, voter_id=vote.voter_id,
                    created_at=vote.created_at)


def _count(vote: Vote) -> None:
    Poll.objects.filter(pk=vote.poll_id).update(total_votes=F("total_votes") + 1)
    with connection.cursor() as cursor:
        cursor.execute(_TALLY_ADD, [vote.poll_id, vote.choice_id, random.randrange(ChoiceTally.SHARDS)])


def vote_record(cast: VoteCast) -> bool:
    """Counts a vote taken elsewhere, once: False when its id is already here (this monolith's own vote coming
    back, or a redelivery) or its voter already voted in its poll (counted under another id; kept out, so that
    nothing is counted twice)."""
    vote = Vote(id=cast.vote_id, poll_id=cast.poll_id, choice_id=cast.choice_id, voter_id=cast.voter_id,
                created_at=cast.created_at)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_VOTE_INSERT_NEW, [vote.id, vote.poll_id, vote.choice_id, vote.voter_id, vote.created_at])
            if cursor.rowcount == 0:
                return False
        _count(vote)
    return True


def _refuse(*, poll_id: uuid.UUID, choice_id: uuid.UUID, now: datetime) -> NoReturn:
    poll = Poll.objects.only("id", "status", "closes_at").filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
    choice_poll_id = Choice.objects.filter(pk=choice_id).values_list("poll_id", flat=True).first()
    if choice_poll_id is None:
        raise NotFound("No choice has this id.", code="choice_not_found", details={"choice_id": str(choice_id)})
    if choice_poll_id != poll.id:
        raise ApplicationError("choice_id: This choice belongs to another poll.", code="choice_not_in_poll", status=400)
    raise Conflict("This poll is closed.", code="poll_closed")
