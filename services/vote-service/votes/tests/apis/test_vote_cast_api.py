import logging
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_events.testing import captured_events, deliver, make_event

from votes.models import Vote
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db

URL = reverse("vote-cast")


@pytest.fixture
def poll():
    return poll_view_create()


@pytest.fixture
def choice(poll):
    return choice_view_create(poll=poll)


def _body(poll, choice) -> dict:
    return {"poll_id": str(poll.id), "choice_id": str(choice.id)}


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"error", "message", "details"}
    if code:
        assert body["error"] == code
    return body


def test_cast_vote_returns_the_vote_of_the_token_user(auth_client, auth_user_id, poll, choice):
    with captured_events() as events:
        response = auth_client.post(URL, _body(poll, choice), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    vote = Vote.objects.get()
    assert body == {
        "id": str(vote.id),
        "poll_id": str(poll.id),
        "choice_id": str(choice.id),
        "voter_id": auth_user_id,
        "created_at": body["created_at"],
    }
    assert [e.type for e in events] == ["vote.cast"]


def test_cast_vote_without_a_token_is_unauthorized(api_client, poll, choice):
    response = api_client.post(URL, _body(poll, choice), format="json")

    _assert_error(response, 401)
    assert not Vote.objects.exists()


@pytest.mark.parametrize("raw", ["null", "[]", '"poll_id"', '{"poll_id": ', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400_not_a_500(auth_client, raw):
    _assert_error(auth_client.post(URL, data=raw, content_type="application/json"), 400)
    assert not Vote.objects.exists()


def test_cast_vote_with_a_voter_id_is_rejected_and_never_written(auth_client, poll, choice):
    response = auth_client.post(URL, {**_body(poll, choice), "voter_id": str(uuid.uuid4())}, format="json")

    body = _assert_error(response, 400)
    assert "voter_id" in body["details"]
    assert not Vote.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [{}, {"poll_id": "not-a-uuid", "choice_id": str(uuid.uuid4())}, {"poll_id": str(uuid.uuid4())}],
)
def test_cast_vote_with_invalid_input_is_a_bad_request(auth_client, payload):
    body = _assert_error(auth_client.post(URL, payload, format="json"), 400)

    assert body["details"]


def test_cast_vote_with_a_choice_of_another_poll_is_a_bad_request(auth_client, poll):
    foreign_choice = choice_view_create(poll=poll_view_create())

    body = _assert_error(auth_client.post(URL, _body(poll, foreign_choice), format="json"), 400)

    assert "choice_id" in body["details"]


def test_cast_vote_on_an_unknown_poll_is_not_found(auth_client):
    body = {"poll_id": str(uuid.uuid4()), "choice_id": str(uuid.uuid4())}

    error = _assert_error(auth_client.post(URL, body, format="json"), 404, "poll_not_known")

    assert "retry shortly" in error["message"]


def test_cast_vote_with_an_unknown_choice_is_not_found(auth_client, poll):
    body = {"poll_id": str(poll.id), "choice_id": str(uuid.uuid4())}

    error = _assert_error(auth_client.post(URL, body, format="json"), 404, "choice_not_known")

    assert "retry shortly" in error["message"] and error["details"] == {"choice_id": body["choice_id"]}


def test_cast_vote_twice_is_a_conflict(auth_client, poll, choice):
    assert auth_client.post(URL, _body(poll, choice), format="json").status_code == 201

    _assert_error(auth_client.post(URL, _body(poll, choice), format="json"), 409, "already_voted")
    assert Vote.objects.count() == 1


def test_cast_vote_on_a_closed_poll_is_a_conflict(auth_client):
    poll = poll_view_create(status="closed")

    _assert_error(auth_client.post(URL, _body(poll, choice_view_create(poll=poll)), format="json"), 409, "poll_closed")


def test_cast_vote_on_a_poll_past_closes_at_is_a_conflict(auth_client):
    poll = poll_view_create(closes_at=timezone.now() - timedelta(minutes=1))

    _assert_error(auth_client.post(URL, _body(poll, choice_view_create(poll=poll)), format="json"), 409, "poll_closed")


def test_a_deleted_user_casts_no_vote(auth_client, auth_user_id, poll, choice):
    deliver(make_event("user.deleted", {"user_id": auth_user_id}, key=auth_user_id))

    _assert_error(auth_client.post(URL, _body(poll, choice), format="json"), 401, "invalid_token")
    assert not Vote.objects.exists()


def test_a_user_never_registered_casts_no_vote(auth_client, poll, choice):
    _assert_error(auth_client(known=False).post(URL, _body(poll, choice), format="json"), 401, "invalid_token")
    assert not Vote.objects.exists()


def test_an_expected_refusal_logs_nothing(auth_client, poll, choice, caplog):
    auth_client.post(URL, _body(poll, choice), format="json")
    caplog.clear()  # the accepted vote's own line ("vote ... cast"): only the refusals' are in question
    # The "django" loggers do not propagate to the root logger, where caplog listens.
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO"):
            _assert_error(auth_client.post(URL, _body(poll, choice), format="json"), 409, "already_voted")
            _assert_error(auth_client.post(URL, {"poll_id": "nope"}, format="json"), 400)
    finally:
        django_logger.removeHandler(caplog.handler)

    assert [record for record in caplog.records if record.levelname != "DEBUG"] == []
