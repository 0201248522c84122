"""Logout and password change through the API: their answers, and what happens to the tokens of the sessions
they end at auth-service itself (the other services learn of it from user.session_revoked)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-horse-battery-staple"


def _login(username: str = "ada", password: str = PASSWORD) -> dict[str, str]:
    response = APIClient().post(reverse("token-obtain"), {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def _me(access: str):
    return APIClient().get(reverse("me"), HTTP_AUTHORIZATION=f"Bearer {access}")


def test_logout_is_204_and_ends_the_sessions_tokens_here_at_once(api_client):
    user_create(username="ada")
    pair, other = _login(), _login()

    response = api_client.post(reverse("logout"), {"refresh": pair["refresh"]})

    assert response.status_code == 204
    refused = _me(pair["access"])
    assert refused.status_code == 401
    assert "session of this token has ended" in refused.json()["message"]
    assert api_client.post(reverse("token-refresh"), {"refresh": pair["refresh"]}).status_code == 401
    assert _me(other["access"]).status_code == 200


def test_logout_without_a_refresh_token_is_400_and_with_a_bad_one_401(api_client):
    assert api_client.post(reverse("logout"), {}).status_code == 400
    response = api_client.post(reverse("logout"), {"refresh": "garbage"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_reused_refresh_token_is_401_and_ends_the_session_for_the_newer_one_too(api_client):
    user_create(username="ada")
    first = _login()
    second = api_client.post(reverse("token-refresh"), {"refresh": first["refresh"]}).json()

    reused = api_client.post(reverse("token-refresh"), {"refresh": first["refresh"]})

    assert reused.status_code == 401 and reused.json()["error"] == "invalid_token"
    assert api_client.post(reverse("token-refresh"), {"refresh": second["refresh"]}).status_code == 401
    assert _me(second["access"]).status_code == 401


def test_password_change_answers_a_new_pair_no_cache_may_store_and_ends_the_old_sessions():
    user_create(username="ada")
    other, current = _login(), _login()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {current['access']}")

    response = client.post(reverse("password-change"), {"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    assert (response["Cache-Control"], response["Pragma"]) == ("no-store", "no-cache")
    assert _me(response.json()["access"]).status_code == 200
    assert _me(other["access"]).status_code == 401
    assert _me(current["access"]).status_code == 401
    assert _login(password=NEW_PASSWORD)["access"]


def test_password_change_needs_a_token_and_the_current_password(api_client):
    user_create(username="ada")
    body = {"current_password": "not-the-password", "new_password": NEW_PASSWORD}

    assert api_client.post(reverse("password-change"), body).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_login()['access']}")
    wrong = api_client.post(reverse("password-change"), body)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "wrong_password" and set(wrong.json()["details"]) == {"current_password"}
