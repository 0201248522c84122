import pytest
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from users.apis import TokenObtainApi
from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


def test_token_answers_an_access_and_a_refresh_token_no_cache_may_store(api_client):
    user_create(username="ada")

    response = api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert (response["Cache-Control"], response["Pragma"]) == ("no-store", "no-cache")


@pytest.mark.parametrize("payload", [{"username": "ada", "password": "nope-nope-nope"}, {"username": "x", "password": "y"}])
def test_bad_credentials_are_401(api_client, payload):
    user_create(username="ada")

    response = api_client.post(reverse("token-obtain"), payload)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"


def test_missing_credentials_are_400(api_client):
    response = api_client.post(reverse("token-obtain"), {})

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"username", "password"}


def test_refresh_answers_a_new_pair_accepted_by_me_no_cache_may_store(api_client):
    user = user_create(username="ada")
    pair = api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD}).json()

    response = api_client.post(reverse("token-refresh"), {"refresh": pair["refresh"]})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert response.json()["refresh"] != pair["refresh"]
    assert (response["Cache-Control"], response["Pragma"]) == ("no-store", "no-cache")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api_client.get(reverse("me")).json() == {"id": str(user.id), "username": "ada"}


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_a_bad_refresh_token_is_401(api_client, refresh):
    response = api_client.post(reverse("token-refresh"), {"refresh": refresh})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_an_access_token_used_as_refresh_is_401(api_client):
    user_create(username="ada")
    pair = api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD}).json()

    assert api_client.post(reverse("token-refresh"), {"refresh": pair["access"]}).status_code == 401


@pytest.fixture
def three_logins_a_minute(monkeypatch):
    # DRF copies the rates onto the throttle class at import, so overriding settings would not reach it.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, TokenObtainApi.throttle_scope, "3/min")


def test_token_attempts_are_rate_limited_with_retry_after(api_client, three_logins_a_minute):
    for _ in range(3):
        api_client.post(reverse("token-obtain"), {"username": "ada", "password": "guess"})

    response = api_client.post(reverse("token-obtain"), {"username": "ada", "password": "guess"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"] == "throttled"
