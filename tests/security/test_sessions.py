"""Sessions end, and everywhere: a refresh token is good for one exchange, a reused one ends its whole session,
logout and a password change end sessions, and then their access tokens are refused by every service once
user.session_revoked reaches it (waited for here, never slept for). Token answers are stored by no cache."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import eventually
from tests.security.conftest import LIMITS_ON, User, assert_json_error, client, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
# Client addresses 127.0.3.x: 127.0.1.1 and 127.0.2.1 are test_tokens' and test_requests' (their login limits).
PASSWORD = "a-long-password-42"
NEW_PASSWORD = "another-long-password-43"
# One request per service that authenticates its caller. The bodies are empty, so a caller let in gets a 400
# and changes nothing; only the token can make it a 401.
PROBES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/auth/me/", None),
    ("POST", "/api/polls/", {}),
    ("POST", "/api/choices/", {}),
    ("POST", "/api/votes/", {}),
]


def _probe(http: httpx.Client, access: str, probe: tuple[str, str, dict[str, Any] | None]) -> httpx.Response:
    method, path, body = probe
    return http.request(method, path, json=body, headers={"Authorization": f"Bearer {access}"})


def let_in_everywhere(url: str, access: str, source: str) -> None:
    """Every service accepts the token: the user's registration has reached them all."""
    with client(url, source) as http:
        for probe in PROBES:
            response = eventually(lambda: _probe(http, access, probe), until=lambda r: r.status_code != 401)
            assert response.status_code != 401, (probe[1], response.text)


def refused_everywhere_once_told(url: str, access: str, source: str) -> None:
    """Every service refuses the token because its session ended, as soon as the revocation reaches it."""
    with client(url, source) as http:
        for probe in PROBES:
            response = eventually(lambda: _probe(http, access, probe), until=lambda r: r.status_code == 401)
            assert assert_json_error(response, 401) == "invalid_token", probe[1]
            assert "session of this token has ended" in response.json()["message"], (probe[1], response.text)


def _tokens(response: httpx.Response) -> User:
    assert response.status_code == 200, response.text
    return User("", response.json()["access"], response.json()["refresh"])


def login(http: httpx.Client, username: str, password: str = PASSWORD) -> User:
    return _tokens(http.post("/api/auth/token/", json={"username": username, "password": password}))


def refreshed(http: httpx.Client, refresh: str) -> httpx.Response:
    return http.post("/api/auth/token/refresh/", json={"refresh": refresh})


def _username_of(http: httpx.Client, user: User) -> str:
    return str(http.get("/api/auth/me/", headers=user.authorization).json()["username"])


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session_everywhere(gateway_url: str):
    source = "127.0.3.1"
    user = fresh_user(gateway_url, source)
    with client(gateway_url, source) as http:
        rotated = _tokens(refreshed(http, user.refresh))
        assert rotated.refresh != user.refresh
        let_in_everywhere(gateway_url, rotated.access, source)

        # The first refresh token, copied by someone and used again: the session ends for both holders.
        assert assert_json_error(refreshed(http, user.refresh), 401) == "invalid_token"
        assert assert_json_error(refreshed(http, rotated.refresh), 401) == "invalid_token"
    refused_everywhere_once_told(gateway_url, rotated.access, source)


def test_logout_ends_the_session_everywhere_and_leaves_the_users_others(gateway_url: str):
    source = "127.0.3.2"
    user = fresh_user(gateway_url, source)
    with client(gateway_url, source) as http:
        other = login(http, _username_of(http, user))
        let_in_everywhere(gateway_url, user.access, source)

        assert http.post("/api/auth/logout/", json={"refresh": user.refresh}).status_code == 204

        assert assert_json_error(refreshed(http, user.refresh), 401) == "invalid_token"
        refused_everywhere_once_told(gateway_url, user.access, source)
        let_in_everywhere(gateway_url, other.access, source)
        assert refreshed(http, other.refresh).status_code == 200


def test_a_password_change_ends_the_users_other_sessions_everywhere(gateway_url: str):
    source = "127.0.3.3"
    user = fresh_user(gateway_url, source)
    with client(gateway_url, source) as http:
        username = _username_of(http, user)
        elsewhere = login(http, username)
        let_in_everywhere(gateway_url, elsewhere.access, source)

        changed = http.post("/api/auth/password/", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                            headers=user.authorization)
        renewed = _tokens(changed)

        for ended in (elsewhere, user):
            assert assert_json_error(refreshed(http, ended.refresh), 401) == "invalid_token"
        refused_everywhere_once_told(gateway_url, elsewhere.access, source)
        refused_everywhere_once_told(gateway_url, user.access, source)
        let_in_everywhere(gateway_url, renewed.access, source)
        assert_json_error(http.post("/api/auth/token/", json={"username": username, "password": PASSWORD}), 401)
        assert login(http, username, NEW_PASSWORD).access


def test_token_answers_are_stored_by_no_cache(gateway_url: str):
    source = "127.0.3.4"
    user = fresh_user(gateway_url, source)
    with client(gateway_url, source) as http:
        username = _username_of(http, user)
        answers = {
            "token": http.post("/api/auth/token/", json={"username": username, "password": PASSWORD}),
            "refresh": refreshed(http, user.refresh),
            "password": http.post("/api/auth/password/", headers=user.authorization,
                                  json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        }
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers.get("cache-control") == "no-store", (name, answer.headers)
        assert answer.headers.get("pragma") == "no-cache", (name, answer.headers)
