import uuid

import pytest
from django.urls import reverse
from django_events.testing import captured_events
from service_kit.testing import make_token

from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db
URL = reverse("me")


def _login(api_client, username: str) -> None:
    access = api_client.post(reverse("token-obtain"), {"username": username, "password": PASSWORD}).json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")


def test_me_answers_the_user_of_the_token(api_client):
    user = user_create(username="ada")
    _login(api_client, "ada")

    response = api_client.get(URL)

    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "username": "ada"}


def test_me_without_a_token_is_401(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(
    "options",
    [{"algorithm": "none"}, {"algorithm": "HS256"}, {"audience": "other"}, {"issuer": "other"}, {"expires_in": -60},
     {"kid": "unknown"}, {"token_type": "refresh"}],
    ids=["alg-none", "hs256-public-key", "wrong-aud", "wrong-iss", "expired", "unknown-kid", "refresh-as-access"],
)
def test_me_with_a_bad_token_is_401(api_client, options):
    user = user_create(username="ada")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=str(user.id), **options)}")

    assert api_client.get(URL).status_code == 401


def test_me_with_the_own_refresh_token_is_401(api_client):
    user_create(username="ada")
    refresh = api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD}).json()["refresh"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh}")

    assert api_client.get(URL).status_code == 401


def test_me_of_a_user_that_never_existed_is_401(auth_client):
    response = auth_client(user_id=str(uuid.uuid4())).get(URL)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_deleting_me_announces_it_and_my_token_stops_working(api_client):
    user = user_create(username="ada")
    _login(api_client, "ada")

    with captured_events() as published:
        assert api_client.delete(URL).status_code == 204

    assert [(event.type, event.data) for event in published] == [("user.deleted", {"user_id": str(user.id)})]
    response = api_client.get(URL)
    assert response.status_code == 401
    assert "does not exist" in response.json()["message"]
    assert api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD}).status_code == 401
