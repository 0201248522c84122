import functools
import logging
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import django_events
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils import timezone
from event_contracts.payloads import VoteCast, VoteVoided
from event_contracts.polls import poll_is_open_sql
from service_kit.errors import ApplicationError, Conflict, NotKnownYet

from votes.batching import Committer, Outcome
from votes.models import ChoiceTally, ChoiceView, PollView, Vote

logger = logging.getLogger(__name__)

_VOTE_TABLE = Vote._meta.db_table
_TALLY_TABLE = ChoiceTally._meta.db_table
_POLL_TABLE = PollView._meta.db_table
_CHOICE_TABLE = ChoiceView._meta.db_table
# Records the vote only if its choice belongs to its poll and the poll is open (event_contracts' rule, as SQL), as
# this statement sees the read models: the validation and the write are one round trip, and a close committed
# before it makes it record nothing (see votes_void_after_close for one committed after). Works alike on
# PostgreSQL and SQLite.
_VOTE_INSERT_IF_VALID = (
    f"INSERT INTO {_VOTE_TABLE} (id, poll_id, choice_id, voter_id, created_at) SELECT %s, %s, %s, %s, %s "
    f"WHERE EXISTS (SELECT 1 FROM {_POLL_TABLE} p JOIN {_CHOICE_TABLE} c ON c.poll_id = p.id "
    f"WHERE p.id = %s AND c.id = %s AND {poll_is_open_sql(status='p.status', closes_at='p.closes_at')})"
)
# A vote taken elsewhere: neither its id nor its voter's vote in its poll may be here already.
_VOTE_INSERT_NEW = (
    f"INSERT INTO {_VOTE_TABLE} (id, poll_id, choice_id, voter_id, created_at) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)


@functools.cache
def _votes_insert_if_valid_sql(rows: int) -> str:
    """_VOTE_INSERT_IF_VALID for ``rows`` votes at once (each row's moment its own), leaving out, rather than
    failing on, a vote whose id or whose voter's vote in its poll is there already (or earlier in the same
    statement); returns the ids recorded."""
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * rows)
    is_open = poll_is_open_sql(status="p.status", closes_at="p.closes_at", at="v.column5")
    return (
        f"INSERT INTO {_VOTE_TABLE} (id, poll_id, choice_id, voter_id, created_at) "
        f"SELECT v.column1, v.column2, v.column3, v.column4, v.column5 FROM (VALUES {values}) AS v "
        f"WHERE EXISTS (SELECT 1 FROM {_POLL_TABLE} p JOIN {_CHOICE_TABLE} c ON c.poll_id = p.id "
        f"WHERE p.id = v.column2 AND c.id = v.column3 AND {is_open}) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )


@functools.cache
def _tally_add_sql(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {_TALLY_TABLE} (poll_id, choice_id, shard, votes) VALUES {values} "
        f"ON CONFLICT (poll_id, choice_id, shard) DO UPDATE SET votes = {_TALLY_TABLE}.votes + excluded.votes"
    )


def _poll_with_choice_poll_id(*, poll_id: uuid.UUID, choice_id: uuid.UUID) -> PollView | None:
    """The poll and the poll its choice belongs to, in one query: the vote path is the hot path."""
    choice_poll_id = ChoiceView.objects.filter(pk=choice_id).values("poll_id")[:1]
    return (
        PollView.objects.annotate(choice_poll_id=Subquery(choice_poll_id))
        .only("id", "status", "closes_at")
        .filter(pk=poll_id)
        .first()
    )


def _poll_with_choice_awaited(*, poll_id: uuid.UUID, choice_id: uuid.UUID) -> PollView | None:
    """A poll or choice created a moment ago may not have reached this service's read models yet: wait for both,
    at most DJANGO_EVENTS["READ_MODEL_WAIT"] seconds, rather than answer 404 to a client that did nothing
    wrong. A known poll and choice, the usual case, cost the one query."""
    return django_events.wait_for_read_model(
        lambda: _poll_with_choice_poll_id(poll_id=poll_id, choice_id=choice_id),
        ready=lambda poll: poll.choice_poll_id is not None,  # type: ignore[attr-defined]  # annotated there
    )


def _validate_vote(*, poll: PollView | None, poll_id: uuid.UUID, choice_id: uuid.UUID, now: datetime) -> None:
    if poll is None:
        raise NotKnownYet("poll", poll_id)
    if poll.choice_poll_id is None:  # type: ignore[attr-defined]  # annotated by _poll_with_choice_poll_id
        raise NotKnownYet("choice", choice_id)
    if poll.choice_poll_id != poll.id:  # type: ignore[attr-defined]
        raise ApplicationError(
            "choice_id: This choice belongs to another poll.",
            code="choice_not_in_poll",
            status=400,
            details={"choice_id": ["This choice belongs to another poll."]},
        )
    if not poll.is_open_at(now):
        raise _poll_closed(poll_id)


def _breaks_one_vote_per_voter(*, poll_id: uuid.UUID, voter_id: str) -> bool:
    # Asked after the rollback, so it sees the committed rival; works alike on PostgreSQL and SQLite.
    return Vote.objects.filter(poll_id=poll_id, voter_id=voter_id).exists()


def _db_uuids(*values: uuid.UUID) -> list[Any]:
    field = ChoiceTally._meta.get_field("poll_id")
    return [field.get_db_prep_value(value, connection) for value in values]


def _tally_add(*, poll_id: uuid.UUID, choice_id: uuid.UUID, votes: int) -> None:
    _tally_add_many({(poll_id, choice_id): votes})


def _tally_add_many(votes: dict[tuple[uuid.UUID, uuid.UUID], int]) -> None:
    """Adds to a shard of each (poll, choice)'s tally, in one statement. In the order of the choices, so that two
    transactions adding to the same choices never wait for each other's rows in a cycle."""
    params: list[Any] = []
    for (poll_id, choice_id), count in sorted(votes.items()):
        params += [*_db_uuids(poll_id, choice_id), random.randrange(ChoiceTally.SHARDS), count]
    with connection.cursor() as cursor:
        cursor.execute(_tally_add_sql(len(votes)), params)


def _poll_closed(poll_id: uuid.UUID) -> Conflict:
    return Conflict("This poll is closed.", code="poll_closed", details={"poll_id": str(poll_id)})


def vote_cast(*, poll_id: uuid.UUID, choice_id: uuid.UUID, voter_id: str) -> Vote:
    """Records one vote, publishes vote.cast and adds it to its choice's tally, in one transaction.

    A valid vote for a poll and choice this service knows, the viral poll's case, is checked by the insert itself
    and costs no read. Any other first learns why it was not recorded, waiting for the read models where a poll
    or choice may have been created a moment ago, and is recorded if that wait made it valid.
    """
    vote = Vote(id=uuid.uuid4(), poll_id=poll_id, choice_id=choice_id, voter_id=voter_id, created_at=timezone.now())
    # Any vote the batch did not record is cast alone, as if there were no batch: its answer is the same.
    if _recorded_in_batch(vote) or _record_if_valid(vote):
        return _logged(vote)
    poll = _poll_with_choice_awaited(poll_id=poll_id, choice_id=choice_id)
    _validate_vote(poll=poll, poll_id=poll_id, choice_id=choice_id, now=vote.created_at)
    if _record_if_valid(vote):
        return _logged(vote)
    # Valid a moment ago and refused now: the poll closed (or the choice went) in between; say which.
    _validate_vote(poll=_poll_with_choice_poll_id(poll_id=poll_id, choice_id=choice_id), poll_id=poll_id,
                   choice_id=choice_id, now=vote.created_at)
    raise _poll_closed(poll_id)


def _logged(vote: Vote) -> Vote:
    # The line that finds a vote by its trace id (or request id) beside the gateway's and polls-service's.
    logger.info("vote %s cast in poll %s", vote.id, vote.poll_id)
    return vote


def _recorded_in_batch(vote: Vote) -> bool:
    """Whether the process's committer recorded the vote with the others cast at the same moment (VOTES["BATCH"]).
    Never inside a caller's transaction (an Idempotency-Key's, whose stored answer commits with the vote): the
    vote then commits with it, alone."""
    if not settings.VOTES["BATCH"] or connection.in_atomic_block:
        return False
    event = django_events.event_for(_cast_of(vote), key=str(vote.poll_id))
    # Back to the pool while the vote waits: the committer borrows from the same pool, sized one per thread, and
    # would otherwise wait for a connection held by the very requests that wait for it.
    connection.close()
    return _committer().record(vote, event) is Outcome.RECORDED


def _committer() -> Committer:
    return _COMMITTER


def votes_record_batch(votes: Sequence[Vote], events: Sequence[django_events.Event]) -> set[uuid.UUID]:
    """Records the votes that the read models make valid and that break no one-vote-per-voter rule, each with its
    ``vote.cast`` (``events``, one per vote, made by ``django_events.event_for``) and its tally, in one
    transaction: one insert of the votes, one of their outbox rows, one upsert of their tallies, one commit.
    Returns the ids of the votes recorded; the others wrote nothing."""
    with transaction.atomic():
        recorded = _votes_insert_if_valid(votes)
        if recorded:
            django_events.publish_events([event for vote, event in zip(votes, events, strict=True) if vote.id in recorded])
            # Last before the commit, as for one vote.
            _tally_add_many(Counter((vote.poll_id, vote.choice_id) for vote in votes if vote.id in recorded))
    return recorded


# The process's one committer (its thread starts with the first vote): one, so that it borrows one connection.
_COMMITTER = Committer(votes_record_batch)


def _votes_insert_if_valid(votes: Sequence[Vote]) -> set[uuid.UUID]:
    params: list[Any] = []
    # In the order of the unique index, so that two batches holding the same voters wait in one direction.
    for vote in sorted(votes, key=lambda vote: (str(vote.poll_id), vote.voter_id)):
        params += [*_db_uuids(vote.id, vote.poll_id, vote.choice_id), vote.voter_id,
                   connection.ops.adapt_datetimefield_value(vote.created_at)]
    with connection.cursor() as cursor:
        cursor.execute(_votes_insert_if_valid_sql(len(votes)), params)
        to_uuid = Vote._meta.pk.to_python
        return {to_uuid(row[0]) for row in cursor.fetchall()}


def _cast_of(vote: Vote) -> VoteCast:
    return VoteCast(vote_id=vote.id, poll_id=vote.poll_id, choice_id=vote.choice_id, voter_id=vote.voter_id,
                    created_at=vote.created_at)


def _record_if_valid(vote: Vote) -> bool:
    """False, with nothing written, when the read models do not make the vote valid (see _VOTE_INSERT_IF_VALID)."""
    poll_id, choice_id = vote.poll_id, vote.choice_id
    # The atomic block sits inside the try: the IntegrityError must be caught after the rollback, not in a
    # broken transaction.
    try:
        with transaction.atomic():
            if not _vote_insert_if_valid(vote):
                return False
            django_events.publish(_cast_of(vote), key=str(poll_id))
            # Last before the commit: a viral poll's votes wait on this row's lock for the shortest time.
            _tally_add(poll_id=poll_id, choice_id=choice_id, votes=1)
    except IntegrityError as error:
        # A concurrent duplicate waits on the unique index for the first transaction, then lands here.
        if not _breaks_one_vote_per_voter(poll_id=poll_id, voter_id=vote.voter_id):
            raise
        raise Conflict(
            "You have already voted in this poll.", code="already_voted", details={"poll_id": str(poll_id)}
        ) from error
    return True


def _vote_insert_if_valid(vote: Vote) -> bool:
    poll_id, choice_id = _db_uuids(vote.poll_id, vote.choice_id)
    moment = connection.ops.adapt_datetimefield_value(vote.created_at)
    with connection.cursor() as cursor:
        cursor.execute(
            _VOTE_INSERT_IF_VALID,
            [*_db_uuids(vote.id), poll_id, choice_id, vote.voter_id, moment, poll_id, choice_id, moment],
        )
        return cursor.rowcount > 0


@transaction.atomic
def vote_import(cast: VoteCast) -> bool:
    """Counts a vote the monolith took (while the votes seam moves to this service): False when its id is here
    already (a redelivery, the backfill and the live stream overlapping, or this service's own vote) or its voter
    has a vote in its poll under another id. Validated where it was taken; announced again from here, once, under
    its id: the monolith's own vote.cast of it may come twice (live, then backfilled), and what follows this
    service's vote.cast (polls-service's total_votes, once the polls seam moves) counts each event."""
    moment = connection.ops.adapt_datetimefield_value(cast.created_at)
    with connection.cursor() as cursor:
        cursor.execute(_VOTE_INSERT_NEW, [*_db_uuids(cast.vote_id, cast.poll_id, cast.choice_id), cast.voter_id, moment])
        if cursor.rowcount == 0:
            return False
    _tally_add(poll_id=cast.poll_id, choice_id=cast.choice_id, votes=1)
    django_events.publish(cast, key=str(cast.poll_id))
    return True


@transaction.atomic
def votes_void_after_close(*, poll_id: uuid.UUID, closed_at: datetime) -> int:
    """The rule for votes after a close: a vote recorded at or after the poll's ``closed_at`` never counts.

    Once this service knows of the close it refuses such votes (409); one it accepted in the moment before it
    knew is voided here, when poll.closed arrives: deleted, taken off its choice's tally, and announced with
    ``vote.voided`` so that polls-service's ``total_votes`` follows. Returns how many were voided.
    """
    if connection.vendor == "postgresql":
        # Waits for every vote transaction in flight to commit, so none is missed below; a vote that starts
        # after it waits for this transaction's end and then finds the poll closed (_VOTE_INSERT_IF_VALID).
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Vote._meta.db_table} IN SHARE MODE")
    late = list(Vote.objects.filter(poll_id=poll_id, created_at__gte=closed_at).order_by("created_at"))
    for vote in late:
        _tally_add(poll_id=poll_id, choice_id=vote.choice_id, votes=-1)
        voided = VoteVoided(
            vote_id=vote.id, poll_id=poll_id, choice_id=vote.choice_id, voter_id=vote.voter_id, reason="after_close"
        )
        django_events.publish(voided, key=str(poll_id))
    Vote.objects.filter(pk__in=[vote.pk for vote in late]).delete()
    return len(late)
