"""The per-choice tallies each vote adds to, and the wait for a poll or choice created a moment ago."""

import threading
import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.test import override_settings
from django_events.testing import after_first_read_of
from service_kit.errors import NotFound

from votes.models import ChoiceTally, ChoiceView, PollView
from votes.selectors import poll_results
from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

PARALLEL_VOTERS = 12


@pytest.mark.django_db
def test_a_choice_count_is_spread_over_a_few_rows_whatever_the_number_of_votes():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    for _ in range(40):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))

    tallies = ChoiceTally.objects.filter(poll_id=poll.id, choice_id=choice.id)

    assert tallies.count() <= ChoiceTally.SHARDS
    assert tallies.aggregate(votes=Sum("votes"))["votes"] == 40
    assert poll_results(poll_id=poll.id).total == 40


@pytest.mark.django_db
def test_a_refused_vote_adds_nothing_to_the_tally():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voter_id = str(uuid.uuid4())
    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=voter_id)

    with pytest.raises(Exception, match="already voted"):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=voter_id)

    assert poll_results(poll_id=poll.id).total == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_for_one_choice_are_all_counted():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    start_together = threading.Barrier(PARALLEL_VOTERS)

    def vote() -> None:
        try:
            start_together.wait()
            vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))
        finally:
            connection.close()

    threads = [threading.Thread(target=vote) for _ in range(PARALLEL_VOTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert poll_results(poll_id=poll.id).total == PARALLEL_VOTERS


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_a_vote_for_a_poll_and_choice_not_projected_yet_waits_for_them():
    poll_id, choice_id = uuid.uuid4(), uuid.uuid4()

    finish = after_first_read_of(
        PollView._meta.db_table, lambda: vote_cast(poll_id=poll_id, choice_id=choice_id, voter_id="voter")
    )
    # What the consumer does when poll.created and then choice.created arrive.
    PollView.objects.create(id=poll_id, owner_id="owner", status="open")
    ChoiceView.objects.create(id=choice_id, poll_id=poll_id, text="Yes")

    assert finish().poll_id == poll_id
    assert poll_results(poll_id=poll_id).total == 1


@pytest.mark.django_db
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 0.05})
def test_a_vote_for_a_poll_never_projected_is_not_found_once_the_wait_is_over():
    with pytest.raises(NotFound, match="This poll is not known to") as raised:
        vote_cast(poll_id=uuid.uuid4(), choice_id=uuid.uuid4(), voter_id=str(uuid.uuid4()))
    assert raised.value.code == "poll_not_known"
