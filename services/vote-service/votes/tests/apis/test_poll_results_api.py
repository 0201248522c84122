import uuid

import pytest
from django.urls import reverse

from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db


def _url(poll_id) -> str:
    return reverse("poll-results", kwargs={"poll_id": poll_id})


def test_poll_results_lists_every_known_choice_with_its_votes(api_client):
    poll = poll_view_create()
    yes = choice_view_create(poll=poll, text="Yes", position=0)
    no = choice_view_create(poll=poll, text="No", position=1)
    vote_cast(poll_id=poll.id, choice_id=yes.id, voter_id=str(uuid.uuid4()))

    response = api_client.get(_url(poll.id))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "poll_id": str(poll.id),
        "total": 1,
        "choices": [
            {"choice_id": str(yes.id), "text": "Yes", "votes": 1},
            {"choice_id": str(no.id), "text": "No", "votes": 0},
        ],
    }


def test_poll_results_of_an_unknown_poll_is_not_found(api_client):
    response = api_client.get(_url(uuid.uuid4()))

    assert response.status_code == 404
    assert response.json()["error"] == "poll_not_known"
