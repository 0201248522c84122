import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_events.testing import after_first_read_of, captured_events, deliver, make_event

from choices.models import Choice, PollView
from choices.tests.factories import a_choice, a_known_poll

pytestmark = pytest.mark.django_db

LIST = reverse("choice-list")


def detail(choice_id):
    return reverse("choice-detail", args=[choice_id])


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"} and body["message"]
    return body


def test_the_owner_adds_a_choice(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=auth_user_id)
    with captured_events() as events:
        response = auth_client.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "poll_id": str(poll_id), "text": "Tea", "position": 1}
    assert [e.type for e in events] == ["choice.created"]


def test_adding_needs_a_token(api_client):
    poll_id = a_known_poll(owner_id=str(uuid.uuid4()))
    error_of(api_client.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json"), 401)


def test_only_the_polls_owner_adds_choices(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=str(uuid.uuid4()))
    assert error_of(auth_client.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json"), 403)["error"] == "not_owner"


def test_a_poll_not_heard_of_yet_is_a_404_that_says_so(auth_client):
    body = error_of(auth_client.post(LIST, {"poll_id": str(uuid.uuid4()), "text": "Tea"}, format="json"), 404)
    assert body["error"] == "poll_not_known" and "This poll is not known to choice-service yet" in body["message"]


def test_a_closed_poll_is_a_409(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=auth_user_id)
    deliver(make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": timezone.now().isoformat()}))
    refused = auth_client.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json")
    assert error_of(refused, 409)["error"] == "poll_closed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": "Tea"}, "poll_id"),
        ({"poll_id": "not-a-uuid", "text": "Tea"}, "poll_id"),
        ({"poll_id": None}, "poll_id"),
        ({"poll_id": "POLL"}, "text"),
        ({"poll_id": "POLL", "text": ""}, "text"),
        ({"poll_id": "POLL", "text": "   "}, "text"),
        ({"poll_id": "POLL", "text": "x" * 201}, "text"),
        ({"poll_id": "POLL", "text": {"nested": "object"}}, "text"),
        ({"poll_id": "POLL", "text": "Tea\x00"}, "text"),
        ({"poll_id": "POLL", "text": "Tea", "position": 1}, "position"),
        ({"poll_id": "POLL", "text": "Tea", "id": str(uuid.uuid4())}, "id"),
    ],
)
def test_invalid_or_undeclared_fields_are_a_400_that_names_the_field(auth_client, auth_user_id, body, field):
    poll_id = str(a_known_poll(owner_id=auth_user_id))
    body = {name: poll_id if value == "POLL" else value for name, value in body.items()}
    assert field in error_of(auth_client.post(LIST, body, format="json"), 400)["details"]
    assert not Choice.objects.exists()


@pytest.mark.parametrize("raw", ['{"poll_id": ', "[]", '"text"', "null", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400_not_a_500(auth_client, raw):
    error_of(auth_client.post(LIST, data=raw, content_type="application/json"), 400)


def test_anyone_lists_a_polls_choices_by_position_paginated(api_client):
    owner = str(uuid.uuid4())
    poll_id = a_known_poll(owner_id=owner)
    for text in ("Tea", "Coffee", "Water"):
        a_choice(poll_id=poll_id, owner_id=owner, text=text)

    body = api_client.get(LIST, {"poll_id": str(poll_id), "page_size": 2}).json()

    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert [(c["position"], c["text"]) for c in body["results"]] == [(1, "Tea"), (2, "Coffee")]


@pytest.mark.parametrize("query", [{}, {"poll_id": ""}, {"poll_id": "not-a-uuid"}])
def test_listing_needs_a_valid_poll_id(api_client, query):
    assert "poll_id" in error_of(api_client.get(LIST, query), 400)["details"]


def test_listing_a_poll_not_heard_of_yet_is_a_404(api_client):
    assert error_of(api_client.get(LIST, {"poll_id": str(uuid.uuid4())}), 404)["error"] == "poll_not_known"


def test_get_one_choice_or_a_json_404(api_client):
    owner = str(uuid.uuid4())
    choice = a_choice(poll_id=a_known_poll(owner_id=owner), owner_id=owner)
    assert api_client.get(detail(choice.id)).json()["text"] == "Tea"
    error_of(api_client.get(detail(uuid.uuid4())), 404)
    error_of(api_client.get("/api/choices/not-a-uuid/"), 404)


def test_the_owner_renames_and_others_are_forbidden(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=auth_user_id)
    choice = a_choice(poll_id=poll_id, owner_id=auth_user_id)

    renamed = auth_client.patch(detail(choice.id), {"text": "Green tea"}, format="json")
    assert renamed.status_code == 200, renamed.content
    assert renamed.json() == {"id": str(choice.id), "poll_id": str(poll_id), "text": "Green tea", "position": 1}

    stranger = auth_client(user_id=str(uuid.uuid4()))
    error_of(stranger.patch(detail(choice.id), {"text": "Hijacked"}, format="json"), 403)
    error_of(stranger.delete(detail(choice.id)), 403)
    error_of(auth_client.patch(detail(choice.id), {"text": "Moved", "poll_id": str(uuid.uuid4())}, format="json"), 400)
    error_of(auth_client.patch(detail(choice.id), {"text": "x" * 201}, format="json"), 400)
    error_of(auth_client.patch(detail(uuid.uuid4()), {"text": "Who?"}, format="json"), 404)
    assert Choice.objects.get().text == "Green tea"


def test_changes_need_a_token(api_client):
    owner = str(uuid.uuid4())
    choice = a_choice(poll_id=a_known_poll(owner_id=owner), owner_id=owner)
    error_of(api_client.patch(detail(choice.id), {"text": "Anon"}, format="json"), 401)
    error_of(api_client.delete(detail(choice.id)), 401)


def test_a_closed_polls_choices_do_not_change(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=auth_user_id)
    choice = a_choice(poll_id=poll_id, owner_id=auth_user_id)
    deliver(make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": timezone.now().isoformat()}))
    error_of(auth_client.patch(detail(choice.id), {"text": "Late"}, format="json"), 409)
    error_of(auth_client.delete(detail(choice.id)), 409)


def test_the_owner_deletes(auth_client, auth_user_id):
    choice = a_choice(poll_id=a_known_poll(owner_id=auth_user_id), owner_id=auth_user_id)
    assert auth_client.delete(detail(choice.id)).status_code == 204
    error_of(auth_client.delete(detail(choice.id)), 404)


def test_the_schema_is_served(api_client):
    assert api_client.get("/api/choices/schema/").status_code == 200


def huge_body(poll_id):
    return {"poll_id": str(poll_id), "text": "x" * 5_000_000}


def test_a_huge_body_is_refused_without_a_500(auth_client, auth_user_id):
    response = auth_client.post(LIST, huge_body(a_known_poll(owner_id=auth_user_id)), format="json")
    assert response.status_code == 400
    assert not Choice.objects.exists()


def test_a_huge_body_gets_the_json_error_shape(auth_client, auth_user_id):
    error_of(auth_client.post(LIST, huge_body(a_known_poll(owner_id=auth_user_id)), format="json"), 400)


def test_a_deleted_user_adds_no_choice(auth_client, auth_user_id):
    poll_id = a_known_poll(owner_id=auth_user_id)
    deliver(make_event("user.deleted", {"user_id": auth_user_id}, key=auth_user_id))

    response = auth_client.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json")

    assert error_of(response, 401)["error"] == "invalid_token"
    assert not Choice.objects.exists()


def test_a_user_never_registered_adds_no_choice(auth_client):
    stranger = auth_client(known=False)
    poll_id = a_known_poll(owner_id=stranger.user_id)

    response = stranger.post(LIST, {"poll_id": str(poll_id), "text": "Tea"}, format="json")

    assert error_of(response, 401)["error"] == "invalid_token"
    assert not Choice.objects.exists()


def _list_of_a_poll_projected_after_the_first_look(client) -> int:
    """The status answered to a list of a poll whose poll.created arrives just after the request looked."""
    poll_id = uuid.uuid4()
    finish = after_first_read_of(PollView._meta.db_table, lambda: client.get(LIST, {"poll_id": str(poll_id)}))
    PollView.objects.create(id=poll_id, owner_id="owner", status="open")
    return int(finish().status_code)


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_a_signed_in_caller_waits_for_a_poll_created_a_moment_ago(auth_client):
    assert _list_of_a_poll_projected_after_the_first_look(auth_client) == 200


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_an_anonymous_caller_is_answered_at_once_without_holding_a_thread(api_client):
    assert _list_of_a_poll_projected_after_the_first_look(api_client) == 404
