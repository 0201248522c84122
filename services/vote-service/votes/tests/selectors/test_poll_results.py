import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from service_kit.errors import NotFound

from votes.selectors import ChoiceResult, poll_results
from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db


def _cast_votes(*, poll, choice, count: int) -> None:
    for _ in range(count):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))


def test_poll_results_counts_votes_per_choice_in_position_order():
    poll = poll_view_create()
    second = choice_view_create(poll=poll, text="No", position=1)
    first = choice_view_create(poll=poll, text="Yes", position=0)
    _cast_votes(poll=poll, choice=first, count=3)
    _cast_votes(poll=poll, choice=second, count=2)

    results = poll_results(poll_id=poll.id)

    assert results.poll_id == poll.id
    assert results.total == 5
    assert results.choices == [
        ChoiceResult(choice_id=first.id, text="Yes", votes=3),
        ChoiceResult(choice_id=second.id, text="No", votes=2),
    ]


def test_poll_results_lists_choices_without_votes_with_zero():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)

    results = poll_results(poll_id=poll.id)

    assert results.total == 0
    assert results.choices == [ChoiceResult(choice_id=choice.id, text=choice.text, votes=0)]


def test_poll_results_ignores_votes_of_other_polls():
    poll, other_poll = poll_view_create(), poll_view_create()
    choice = choice_view_create(poll=poll)
    _cast_votes(poll=other_poll, choice=choice_view_create(poll=other_poll), count=2)

    assert poll_results(poll_id=poll.id).choices == [ChoiceResult(choice_id=choice.id, text=choice.text, votes=0)]


def test_poll_results_of_an_unknown_poll_is_not_found():
    with pytest.raises(NotFound):
        poll_results(poll_id=uuid.uuid4())


def test_poll_results_of_a_poll_without_choices_is_empty():
    poll = poll_view_create()

    results = poll_results(poll_id=poll.id)

    assert (results.total, results.choices) == (0, [])


def test_poll_results_take_one_query_whatever_the_number_of_choices():
    poll = poll_view_create()
    for position in range(10):
        _cast_votes(poll=poll, choice=choice_view_create(poll=poll, text=str(position), position=position), count=1)

    with CaptureQueriesContext(connection) as queries:
        poll_results(poll_id=poll.id)

    assert len(queries) == 1
