"""The error convention's check (docs/errors.md at the repository's root) refuses each kind of drift."""

import pytest
from django.test import override_settings

from service_kit.errors import Forbidden, NotKnownYet, error_body
from service_kit.testing import assert_error_body, error_body_problems

GOOD = [
    ({"error": "poll_closed", "message": "This poll is closed.", "details": {"poll_id": "42"}}, 409),
    ({"error": "invalid", "message": "choices.1.text: This field is required.",
      "details": {"choices": [{}, {"text": ["This field is required."]}]}}, 400),
    ({"error": "throttled", "message": "Request was throttled.", "details": {"retry_after_seconds": 3}}, 429),
    ({"error": "not_authenticated", "message": "Authentication credentials were not provided.", "details": {}}, 401),
]
BAD = {
    "a key too many": ({"error": "x", "message": "X.", "details": {}, "status": 400}, 400, "is not {error"),
    "a code not snake_case": ({"error": "PollClosed", "message": "X.", "details": {}}, 409, "snake_case"),
    "a retired code": ({"error": "forbidden", "message": "X.", "details": {}}, 403, "retired"),
    "a message in lower case": ({"error": "x", "message": "this poll is closed", "details": {}}, 409, "sentence"),
    "a message without a full stop": ({"error": "x", "message": "This poll is closed", "details": {}}, 409, "sentence"),
    "details as a list": ({"error": "x", "message": "X.", "details": ["no"]}, 400, "not an object"),
    "a field error as a string": ({"error": "invalid", "message": "X.", "details": {"name": "bad"}}, 400, "details.name"),
    "an id as a number": ({"error": "x", "message": "X.", "details": {"poll_id": 42}}, 409, "details.poll_id"),
    "a not_found without its id": ({"error": "poll_not_found", "message": "X.", "details": {}}, 404, "poll_id"),
    "an invalid without its field": ({"error": "invalid", "message": "X.", "details": {}}, 400, "empty details"),
    "a 429 without its wait": ({"error": "throttled", "message": "X.", "details": {}}, 429, "retry_after_seconds"),
}


@pytest.mark.parametrize(("body", "status"), GOOD)
def test_bodies_by_the_convention_pass(body, status):
    assert_error_body(body, status)


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_drift_is_refused(case):
    body, status, said = BAD[case]
    problems = error_body_problems(body, status)
    assert any(said in problem for problem in problems), problems


def test_a_message_ends_as_a_sentence_whoever_wrote_it():
    assert error_body("invalid_token", "Refresh token rejected: Signature has expired")["message"].endswith("expired.")


def test_a_403_is_permission_denied_unless_it_says_why():
    assert Forbidden().code == "permission_denied"


@override_settings(SERVICE_KIT={"SERVICE": "vote-service"})
def test_not_known_yet_names_the_service_from_its_settings():
    error = NotKnownYet("poll", "42")

    assert error.code == "poll_not_known" and error.details == {"poll_id": "42"}
    assert error.message.startswith("This poll is not known to vote-service yet")
    assert_error_body(error_body(error.code, error.message, error.details), 404)
