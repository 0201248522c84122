import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_events.testing import captured_events
from service_kit.errors import ApplicationError, Conflict, NotFound

from votes.models import Vote
from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db

VOTER_ID = str(uuid.uuid4())


@pytest.fixture
def poll():
    return poll_view_create()


@pytest.fixture
def choice(poll):
    return choice_view_create(poll=poll)


def test_vote_cast_records_the_vote_and_publishes_vote_cast(poll, choice):
    with captured_events() as events:
        vote = vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)

    stored = Vote.objects.get()
    assert (stored.id, stored.poll_id, stored.choice_id, stored.voter_id) == (vote.id, poll.id, choice.id, VOTER_ID)
    [event] = events
    assert (event.type, event.version, event.key) == ("vote.cast", 1, str(poll.id))
    assert event.data == {
        "vote_id": str(vote.id),
        "poll_id": str(poll.id),
        "choice_id": str(choice.id),
        "voter_id": VOTER_ID,
        "created_at": vote.created_at.isoformat(),
    }


def test_vote_cast_a_second_time_by_the_same_voter_is_a_conflict_and_publishes_nothing(poll, choice):
    other_choice = choice_view_create(poll=poll, text="No", position=1)
    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)

    with captured_events() as events, pytest.raises(Conflict):
        vote_cast(poll_id=poll.id, choice_id=other_choice.id, voter_id=VOTER_ID)

    assert events == []
    assert Vote.objects.count() == 1


def test_vote_cast_lets_another_voter_vote_on_the_same_poll(poll, choice):
    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)
    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))

    assert Vote.objects.count() == 2


def test_vote_cast_on_a_poll_not_known_yet_is_not_found():
    with pytest.raises(NotFound, match="This poll is not known to"):
        vote_cast(poll_id=uuid.uuid4(), choice_id=uuid.uuid4(), voter_id=VOTER_ID)


def test_vote_cast_with_an_unknown_choice_is_not_found(poll):
    with pytest.raises(NotFound, match="This choice is not known to"):
        vote_cast(poll_id=poll.id, choice_id=uuid.uuid4(), voter_id=VOTER_ID)


def test_vote_cast_with_a_choice_of_another_poll_is_invalid(poll):
    foreign_choice = choice_view_create(poll=poll_view_create())

    with pytest.raises(ApplicationError) as raised:
        vote_cast(poll_id=poll.id, choice_id=foreign_choice.id, voter_id=VOTER_ID)

    assert raised.value.status == 400
    assert not Vote.objects.exists()


def test_vote_cast_on_a_closed_poll_is_a_conflict():
    poll = poll_view_create(status="closed")
    choice = choice_view_create(poll=poll)

    with pytest.raises(Conflict, match="closed"):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)


def test_vote_cast_on_a_poll_past_closes_at_is_a_conflict():
    poll = poll_view_create(closes_at=timezone.now() - timedelta(seconds=1))
    choice = choice_view_create(poll=poll)

    with pytest.raises(Conflict, match="closed"):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)


def test_vote_cast_before_closes_at_is_accepted():
    poll = poll_view_create(closes_at=timezone.now() + timedelta(hours=1))
    choice = choice_view_create(poll=poll)

    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)

    assert Vote.objects.count() == 1


def test_a_valid_vote_takes_three_inserts_and_no_read(poll, choice):
    with CaptureQueriesContext(connection) as queries:
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=VOTER_ID)

    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # Inside the test's transaction the atomic block is a savepoint; in production it is BEGIN/COMMIT.
    # The vote (checked against the read models by the insert itself), its outbox row, its choice's tally.
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["INSERT", "INSERT", "INSERT"]
