import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_events.testing import captured_events, deliver, make_event

from polls.models import Poll
from polls.tests.factories import a_poll

pytestmark = pytest.mark.django_db

LIST = reverse("poll-list")


def detail(poll_id):
    return reverse("poll-detail", args=[poll_id])


def close(poll_id):
    return reverse("poll-close", args=[poll_id])


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"error", "message", "details"} and body["message"]
    return body


def test_create_a_poll_owned_by_the_token_user(auth_client, auth_user_id):
    with captured_events() as events:
        response = auth_client.post(LIST, {"question": "Tea or coffee?"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "question": "Tea or coffee?",
        "owner_id": auth_user_id,
        "status": "open",
        "closes_at": None,
        "created_at": body["created_at"],
        "total_votes": 0,
    }
    assert [e.type for e in events] == ["poll.created"]


def test_creating_needs_a_token(api_client):
    error_of(api_client.post(LIST, {"question": "Anyone?"}, format="json"), 401)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "question"),
        ({"question": ""}, "question"),
        ({"question": "x" * 301}, "question"),
        ({"question": 42}, "question"),
        ({"question": "When?", "closes_at": "tomorrow"}, "closes_at"),
        ({"question": "Past?", "closes_at": "2001-01-01T00:00:00Z"}, "closes_at"),
        ({"question": "Mine?", "owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"question": "Counted?", "total_votes": 1000}, "total_votes"),
    ],
)
def test_invalid_or_server_owned_fields_are_a_400_that_names_the_field(auth_client, body, field):
    assert field in error_of(auth_client.post(LIST, body, format="json"), 400)["details"]
    assert not Poll.objects.exists()


@pytest.mark.parametrize("raw", ['{"question": ', "[]", '"question"', "null", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400_not_a_500(auth_client, raw):
    error_of(auth_client.post(LIST, data=raw, content_type="application/json"), 400)


def test_changes_need_a_token(api_client):
    poll = a_poll()
    error_of(api_client.patch(detail(poll.id), {"question": "Anon"}, format="json"), 401)
    error_of(api_client.delete(detail(poll.id)), 401)
    error_of(api_client.post(close(poll.id)), 401)
    assert Poll.objects.get().question == "Tea or coffee?"


def test_anyone_lists_polls_paginated(api_client):
    for n in range(3):
        a_poll(question=f"Q{n}")
    body = api_client.get(LIST, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_page_size_is_capped(api_client):
    a_poll()
    assert api_client.get(LIST, {"page_size": 100000}).status_code == 200


def test_get_one_poll_or_a_json_404(api_client):
    poll = a_poll()
    assert api_client.get(detail(poll.id)).json()["id"] == str(poll.id)
    error_of(api_client.get(detail(uuid.uuid4())), 404)
    error_of(api_client.get("/api/polls/not-a-uuid/"), 404)


def test_anyones_poll_may_be_kept_a_second_and_revalidated_the_owners_is_never_kept(api_client, auth_client,
                                                                                      auth_user_id):
    poll = a_poll(owner_id=auth_user_id)

    anyones = api_client.get(detail(poll.id))
    unchanged = api_client.get(detail(poll.id), HTTP_IF_NONE_MATCH=anyones["ETag"])
    owners = auth_client.get(detail(poll.id))

    assert (anyones.status_code, anyones["Cache-Control"]) == (200, "public, max-age=1")
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert (owners.status_code, owners["Cache-Control"]) == (200, "private, no-cache")


def test_the_owner_patches_and_others_are_forbidden(auth_client, auth_user_id):
    poll = a_poll(owner_id=auth_user_id)
    closes_at = (timezone.now() + timedelta(days=2)).isoformat()

    changed = auth_client.patch(detail(poll.id), {"question": "Better?", "closes_at": closes_at}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["question"] == "Better?"

    stranger = auth_client(user_id=str(uuid.uuid4()))
    error_of(stranger.patch(detail(poll.id), {"question": "Hijacked"}, format="json"), 403)
    error_of(stranger.delete(detail(poll.id)), 403)
    error_of(stranger.post(close(poll.id)), 403)
    error_of(auth_client.patch(detail(poll.id), {"status": "closed"}, format="json"), 400)


def test_the_owner_closes_once_then_it_is_a_conflict(auth_client, auth_user_id):
    poll = a_poll(owner_id=auth_user_id)
    closed = auth_client.post(close(poll.id))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert error_of(auth_client.post(close(poll.id)), 409)["error"] == "poll_closed"
    error_of(auth_client.patch(detail(poll.id), {"question": "Again?"}, format="json"), 409)


def test_the_owner_deletes(auth_client, auth_user_id):
    poll = a_poll(owner_id=auth_user_id)
    assert auth_client.delete(detail(poll.id)).status_code == 204
    error_of(auth_client.delete(detail(poll.id)), 404)


def test_the_schema_is_served(api_client):
    assert api_client.get("/api/polls/schema/").status_code == 200


def test_a_deleted_user_creates_no_poll(auth_client, auth_user_id):
    deliver(make_event("user.deleted", {"user_id": auth_user_id}, key=auth_user_id))

    response = auth_client.post(LIST, {"question": "Still here?"}, format="json")

    assert error_of(response, 401)["error"] == "invalid_token"
    assert not Poll.objects.exists()


def test_a_user_never_registered_creates_no_poll(auth_client):
    response = auth_client(known=False).post(LIST, {"question": "Who am I?"}, format="json")

    assert error_of(response, 401)["error"] == "invalid_token"
    assert not Poll.objects.exists()
