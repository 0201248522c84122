import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django_events.testing import after_first_read_of

from votes.models import PollView
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


def _results_of_a_poll_projected_after_the_first_look(client) -> int:
    """The status answered to a request for a poll whose poll.created arrives just after the request looked."""
    poll_id = uuid.uuid4()
    finish = after_first_read_of(PollView._meta.db_table, lambda: client.get(_url(poll_id)))
    PollView.objects.create(id=poll_id, owner_id="owner", status="open")
    return int(finish().status_code)


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_a_signed_in_caller_waits_for_a_poll_created_a_moment_ago(auth_client):
    assert _results_of_a_poll_projected_after_the_first_look(auth_client) == 200


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_an_anonymous_caller_is_answered_at_once_without_holding_a_thread(api_client):
    assert _results_of_a_poll_projected_after_the_first_look(api_client) == 404


def test_anyones_results_may_be_kept_a_second_and_an_unchanged_copy_is_revalidated_with_a_304(api_client):
    poll = poll_view_create()
    yes = choice_view_create(poll=poll, text="Yes", position=0)

    first = api_client.get(_url(poll.id))
    again = api_client.get(_url(poll.id), HTTP_IF_NONE_MATCH=first["ETag"])
    vote_cast(poll_id=poll.id, choice_id=yes.id, voter_id=str(uuid.uuid4()))
    changed = api_client.get(_url(poll.id), HTTP_IF_NONE_MATCH=first["ETag"])

    assert (first.status_code, first["Cache-Control"]) == (200, "public, max-age=1")
    assert (again.status_code, again.content) == (304, b"")
    assert (changed.status_code, changed.json()["total"]) == (200, 1)
    assert changed["ETag"] != first["ETag"]


def test_a_signed_in_callers_results_are_never_served_from_a_cache_without_asking(auth_client):
    poll = poll_view_create()

    response = auth_client.get(_url(poll.id))

    assert (response.status_code, response["Cache-Control"]) == (200, "private, no-cache")


def test_not_known_yet_is_never_cached(api_client):
    response = api_client.get(_url(uuid.uuid4()))

    assert response.status_code == 404
    assert not response.has_header("Cache-Control")
