import pytest
from django.urls import reverse

from users.models import User
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = reverse("user-register")


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    return body


def test_register_answers_the_uuid_and_username(api_client):
    response = api_client.post(URL, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 201
    user = User.objects.get()
    assert response.json() == {"id": str(user.id), "username": "alice"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "alice"}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "alice", "password": ""}, "password"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": "a" * 151, "password": PASSWORD}, "username"),
        ({"username": "alice", "password": "123"}, "password"),
        ({"username": "alice", "password": "password"}, "password"),
    ],
)
def test_invalid_input_is_a_bad_request_naming_the_field(api_client, payload, field):
    body = _error(api_client.post(URL, payload), 400)

    assert field in body["details"]
    assert not User.objects.exists()


def test_a_taken_username_is_a_conflict(api_client):
    api_client.post(URL, {"username": "alice", "password": PASSWORD})

    body = _error(api_client.post(URL, {"username": "Alice", "password": PASSWORD}), 409)

    assert body["error"] == "username_taken"


def test_malformed_json_is_a_bad_request(api_client):
    response = api_client.generic("POST", URL, '{"username": ', content_type="application/json")

    assert _error(response, 400)["error"] == "parse_error"


def test_a_stale_bearer_token_does_not_block_registration(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    assert api_client.post(URL, {"username": "alice", "password": PASSWORD}).status_code == 201
