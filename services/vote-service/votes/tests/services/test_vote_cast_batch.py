"""Group commit (votes.batching): concurrent votes of one process recorded in one transaction, each answered with
its own outcome, and every guarantee of a vote cast alone kept."""

import threading
import time
import uuid
from datetime import timedelta

import django_events
import pytest
from django.db import IntegrityError, connection
from django.utils import timezone
from django_events.testing import captured_events, make_event
from service_kit.errors import Conflict

from votes import services
from votes.batching import Committer, Outcome
from votes.models import ChoiceTally, Vote
from votes.services import vote_cast, votes_record_batch
from votes.tests.factories import choice_view_create, poll_view_create


@pytest.fixture(autouse=True)
def batching_on(settings):
    settings.VOTES = {**settings.VOTES, "BATCH": True}


def _vote(poll_id, choice_id, voter_id=None):
    return Vote(id=uuid.uuid4(), poll_id=poll_id, choice_id=choice_id, voter_id=voter_id or str(uuid.uuid4()),
                created_at=timezone.now())


def _record(votes):
    return votes_record_batch(votes, [django_events.event_for(services._cast_of(v), key=str(v.poll_id)) for v in votes])


def _tally(poll_id):
    return {choice_id: sum(ChoiceTally.objects.filter(poll_id=poll_id, choice_id=choice_id).values_list("votes", flat=True))
            for choice_id in set(ChoiceTally.objects.filter(poll_id=poll_id).values_list("choice_id", flat=True))}


@pytest.mark.django_db
def test_a_batch_records_each_valid_vote_with_its_own_vote_cast_and_tally():
    poll = poll_view_create()
    yes, no = choice_view_create(poll=poll), choice_view_create(poll=poll, text="No", position=1)
    votes = [_vote(poll.id, yes.id), _vote(poll.id, yes.id), _vote(poll.id, no.id)]

    with captured_events() as events:
        recorded = _record(votes)

    assert recorded == {v.id for v in votes}
    assert set(Vote.objects.values_list("id", flat=True)) == recorded
    assert sorted((e.type, e.key, e.data["vote_id"], e.data["choice_id"]) for e in events) == sorted(
        ("vote.cast", str(poll.id), str(v.id), str(v.choice_id)) for v in votes
    )
    assert _tally(poll.id) == {yes.id: 2, no.id: 1}


@pytest.mark.django_db
def test_a_batch_leaves_out_duplicates_and_invalid_votes_and_publishes_nothing_for_them():
    poll, closed = poll_view_create(), poll_view_create(status="closed")
    choice, closed_choice, elsewhere = (choice_view_create(poll=poll), choice_view_create(poll=closed),
                                        choice_view_create(poll=poll_view_create()))
    earlier = vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id="already")
    first, twin = _vote(poll.id, choice.id, "twice"), _vote(poll.id, choice.id, "twice")
    left_out = [
        twin,  # the same voter earlier in the same batch
        _vote(poll.id, choice.id, "already"),  # the voter's vote is stored already
        _vote(uuid.uuid4(), uuid.uuid4()),  # a poll not known yet
        _vote(closed.id, closed_choice.id),  # a closed poll
        _vote(poll.id, elsewhere.id),  # a choice of another poll
    ]
    batch = [first, *left_out]

    with captured_events() as events:
        recorded = _record(batch)

    assert recorded in ({first.id}, {twin.id})  # one of the twins, whichever the statement met first
    assert set(Vote.objects.values_list("id", flat=True)) == {earlier.id, *recorded}
    assert [e.data["vote_id"] for e in events] == [str(v) for v in recorded]
    assert _tally(poll.id) == {choice.id: 2}


def _gated(committer_holds: int):
    """A committer whose first batch waits until ``committer_holds`` more votes queued behind it, so those make
    one batch together, and the sizes of the batches it recorded."""
    sizes: list[int] = []
    first = threading.Event()

    def record(votes, events):
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 10
            while committer._queue.qsize() < committer_holds and time.monotonic() < deadline:
                time.sleep(0.005)
        sizes.append(len(votes))
        return votes_record_batch(votes, events)

    committer = Committer(record)
    return committer, sizes


def _cast_at_once(voters, poll, choice):
    """vote_cast from one thread per voter at once: each thread's vote or the error it raised."""
    start = threading.Barrier(len(voters))
    results: dict[int, object] = {}

    def cast(index, voter_id):
        try:
            start.wait()
            results[index] = vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=voter_id)
        except Exception as error:  # the answer under test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=cast, args=(i, v)) for i, v in enumerate(voters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(len(voters))]


@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_share_a_batch_and_duplicates_in_it_are_conflicts(monkeypatch):
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voters = ["a", "b", "c", "d", "twice", "twice", "thrice", "thrice"]
    committer, sizes = _gated(len(voters) - 1)
    monkeypatch.setattr(services, "_committer", lambda: committer)

    with captured_events() as events:
        results = _cast_at_once(voters, poll, choice)

    assert max(sizes) > 1  # some votes were committed together
    accepted = {r.voter_id: r.id for r in results if isinstance(r, Vote)}
    assert sorted(accepted) == ["a", "b", "c", "d", "thrice", "twice"]
    assert sum(isinstance(r, Conflict) for r in results) == 2
    assert dict(Vote.objects.values_list("voter_id", "id")) == accepted
    assert sorted(e.data["vote_id"] for e in events) == sorted(str(i) for i in accepted.values())
    assert _tally(poll.id) == {choice.id: 6}


@pytest.fixture
def poisoned_voter():
    """A voter whose row the database refuses (a CHECK constraint added for the test): a row that fails the whole
    statement it is in."""
    if connection.vendor != "postgresql":
        pytest.skip("adds a constraint with ALTER TABLE, which SQLite cannot")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE votes_vote ADD CONSTRAINT test_poisoned CHECK (voter_id <> 'poisoned')")
    yield "poisoned"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE votes_vote DROP CONSTRAINT test_poisoned")


@pytest.mark.django_db(transaction=True)
def test_a_vote_that_fails_its_batch_fails_alone_and_the_others_are_recorded(monkeypatch, poisoned_voter):
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voters = ["a", "b", poisoned_voter, "c"]
    committer, sizes = _gated(len(voters) - 1)
    monkeypatch.setattr(services, "_committer", lambda: committer)

    results = _cast_at_once(voters, poll, choice)

    assert max(sizes) > 1
    assert isinstance(results[2], IntegrityError)
    assert sorted(r.voter_id for r in results if isinstance(r, Vote)) == ["a", "b", "c"]
    assert sorted(Vote.objects.values_list("voter_id", flat=True)) == ["a", "b", "c"]
    assert _tally(poll.id) == {choice.id: 3}


@pytest.mark.django_db(transaction=True)
def test_a_vote_the_batch_left_out_is_cast_alone_and_says_why(monkeypatch):
    poll = poll_view_create(status="open", closes_at=timezone.now() - timedelta(seconds=1))
    choice = choice_view_create(poll=poll)
    monkeypatch.setattr(services, "_committer", lambda: Committer(votes_record_batch))

    with pytest.raises(Conflict) as closed:
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id="late")

    assert closed.value.code == "poll_closed"
    assert not Vote.objects.exists()


def test_the_committer_answers_each_vote_alone_when_its_batch_fails():
    def failing(votes, events):
        raise RuntimeError("the batch's transaction failed")

    committer = Committer(failing)
    vote = _vote(uuid.uuid4(), uuid.uuid4())
    event = make_event("vote.cast", {"vote_id": str(vote.id)})
    assert committer.record(vote, event) is Outcome.ALONE
    # The committer keeps serving after a failed batch.
    assert committer.record(vote, event) is Outcome.ALONE
    assert Committer(lambda votes, events: {votes[0].id}).record(vote, event) is Outcome.RECORDED


@pytest.mark.django_db(transaction=True)
def test_a_vote_inside_a_callers_transaction_commits_with_it_not_in_a_batch(monkeypatch):
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)

    def never(votes, events):
        raise AssertionError("batched inside a caller's transaction")

    monkeypatch.setattr(services, "_committer", lambda: Committer(never))
    with pytest.raises(RuntimeError), services.transaction.atomic():
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id="rolled back")
        raise RuntimeError("the caller's transaction fails after the vote")

    assert not Vote.objects.exists()
