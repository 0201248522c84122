import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse

from service_kit.jwks import public_jwk
from service_kit.testing import TEST_JWT_SETTINGS, TEST_PUBLIC_JWK, make_token

URL = reverse("whoami")


def _get(api_client, token: str):
    return api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")


def _assert_unauthorized(response, message_part: str = "") -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert message_part.lower() in body["message"].lower()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_valid_access_token_authenticates_the_token_user_without_a_database(api_client):
    response = _get(api_client, make_token(user_id="8a6e0804-2bd0-4672-b79d-d97027f9071a", username="ada"))

    assert response.status_code == 200
    assert response.json() == {"id": "8a6e0804-2bd0-4672-b79d-d97027f9071a", "username": "ada"}


def test_no_token_is_unauthorized(api_client):
    response = api_client.get(URL)

    _assert_unauthorized(response)
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(
    ("token_options", "message_part"),
    [
        ({"algorithm": "none"}, "algorithm"),
        ({"algorithm": "HS256"}, "algorithm"),  # the public key used as an HMAC secret
        ({"audience": "another-platform"}, "audience"),
        ({"audience": None}, "aud"),
        ({"issuer": "someone-else"}, "issuer"),
        ({"expires_in": -60}, "expired"),
        ({"kid": "unknown-key"}, "unknown key"),
        ({"kid": None}, "key id"),
        ({"token_type": "refresh"}, "not an access token"),
        ({"user_id": None}, "user_id"),
        ({"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, "signature"),
    ],
    ids=["alg-none", "hs256-public-key", "wrong-aud", "no-aud", "wrong-iss", "expired", "unknown-kid", "no-kid",
         "refresh-as-access", "no-user-id", "foreign-key-same-kid"],
)
def test_bad_tokens_are_unauthorized_with_a_clear_message(api_client, token_options, message_part):
    options = {"user_id": "u1", **token_options}
    _assert_unauthorized(_get(api_client, make_token(**options)), message_part)


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-a-jwt"])
def test_malformed_authorization_headers_are_unauthorized(api_client, header):
    _assert_unauthorized(api_client.get(URL, HTTP_AUTHORIZATION=header))


@pytest.mark.parametrize("shape", ["header-only", "garbage-payload", "four-segments", "header-not-an-object"])
def test_a_token_with_a_good_header_and_a_broken_rest_is_unauthorized(api_client, shape):
    header, payload, signature = make_token(user_id="u1").split(".")
    token = {
        "header-only": header,
        "garbage-payload": f"{header}.!!!.{signature}",
        "four-segments": f"{header}.{payload}.{signature}.{signature}",
        "header-not-an-object": f"WzFd.{payload}.{signature}",  # base64url of [1]
    }[shape]

    _assert_unauthorized(_get(api_client, token))


def test_a_tampered_payload_fails_the_signature(api_client):
    header, _payload, signature = make_token(user_id="u1").split(".")
    forged_payload = make_token(user_id="admin").split(".")[1]

    _assert_unauthorized(_get(api_client, f"{header}.{forged_payload}.{signature}"), "signature")


def test_a_configured_jwk_is_trusted_like_a_pem(api_client, settings):
    settings.SERVICE_KIT = {"JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": [TEST_PUBLIC_JWK]}}

    assert _get(api_client, make_token(user_id="u1")).status_code == 200


class _JwksServer:
    def __init__(self, port: int = 0) -> None:
        self.document: dict = {"keys": []}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks/"


@pytest.fixture
def jwks_server(settings) -> Iterator[_JwksServer]:
    server = _JwksServer()
    settings.SERVICE_KIT = {"JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": [], "JWKS_URL": server.url}}
    yield server
    server.http.shutdown()


def test_keys_are_fetched_from_the_jwks_url_and_cached(api_client, jwks_server):
    jwks_server.document = {"keys": [TEST_PUBLIC_JWK]}

    assert _get(api_client, make_token(user_id="u1")).status_code == 200
    assert _get(api_client, make_token(user_id="u2")).status_code == 200
    assert jwks_server.requests == 1


def test_an_unknown_kid_refetches_the_jwks_but_not_more_often_than_allowed(api_client, jwks_server, settings):
    next_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.document = {"keys": [TEST_PUBLIC_JWK]}
    assert _get(api_client, make_token(user_id="u1")).status_code == 200

    # auth-service publishes its next key; a token signed with it arrives: one refetch finds it.
    settings.SERVICE_KIT = {
        "JWT": {**settings.SERVICE_KIT["JWT"], "JWKS_MIN_REFETCH_SECONDS": 0}
    }
    jwks_server.document = {"keys": [TEST_PUBLIC_JWK, public_jwk(next_key.public_key(), kid="next")]}
    assert _get(api_client, make_token(user_id="u1", key=next_key, kid="next")).status_code == 200

    settings.SERVICE_KIT = {"JWT": {**settings.SERVICE_KIT["JWT"], "JWKS_MIN_REFETCH_SECONDS": 3600}}
    assert _get(api_client, make_token(user_id="u1")).status_code == 200  # the first fetch after the reload
    fetches = jwks_server.requests
    for _ in range(5):
        _assert_unauthorized(_get(api_client, make_token(user_id="u1", kid="garbage")), "unknown key")
    assert jwks_server.requests == fetches


def _assert_keys_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"} and body["error"] == "keys_unavailable", body


def test_a_jwks_never_fetched_is_a_503_not_a_401_nor_a_500(api_client, settings):
    settings.SERVICE_KIT = {"JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": [], "JWKS_URL": "http://127.0.0.1:9/jwks/"}}

    _assert_keys_unavailable(_get(api_client, make_token(user_id="u1")))


class _Clock:
    """time.monotonic as jwks.py sees it, moved by hand: an hour of outage without waiting an hour."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr("service_kit.jwks.time.monotonic", clock)
    return clock


def test_fetched_keys_outlive_a_short_outage_but_not_the_max_age(api_client, jwks_server, settings, clock):
    settings.SERVICE_KIT = {
        "JWT": {**settings.SERVICE_KIT["JWT"], "JWKS_CACHE_SECONDS": 300, "JWKS_MIN_REFETCH_SECONDS": 10,
                "JWKS_MAX_AGE_SECONDS": 3600}
    }
    jwks_server.document = {"keys": [TEST_PUBLIC_JWK]}
    assert _get(api_client, make_token(user_id="u1")).status_code == 200

    # auth-service goes away: its port stops answering.
    jwks_server.http.shutdown()
    jwks_server.http.server_close()
    clock.now += 1800  # stale, refetch fails, still within the max age: keep verifying
    assert _get(api_client, make_token(user_id="u1")).status_code == 200
    assert jwks_server.requests == 1

    clock.now += 1801  # past the max age since the last good fetch: no longer trusted
    _assert_keys_unavailable(_get(api_client, make_token(user_id="u1")))
    clock.now += 60
    _assert_keys_unavailable(_get(api_client, make_token(user_id="u1")))


def test_keys_are_trusted_again_once_the_jwks_answers_again(api_client, settings, clock):
    down = _JwksServer()
    url = down.url
    down.http.shutdown()
    down.http.server_close()
    settings.SERVICE_KIT = {"JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": [], "JWKS_URL": url}}
    _assert_keys_unavailable(_get(api_client, make_token(user_id="u1")))

    back = _JwksServer(port=int(url.split(":")[2].split("/")[0]))
    try:
        back.document = {"keys": [TEST_PUBLIC_JWK]}
        clock.now += 11  # past JWKS_MIN_REFETCH_SECONDS
        assert _get(api_client, make_token(user_id="u1")).status_code == 200
    finally:
        back.http.shutdown()
        back.http.server_close()


def provided_jwks() -> dict:
    return {"keys": [TEST_PUBLIC_JWK]}


def test_keys_from_a_jwks_provider_are_trusted_without_http(api_client, settings):
    settings.SERVICE_KIT = {
        "JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": [], "JWKS_PROVIDER": "tests.test_auth.provided_jwks"}
    }

    assert _get(api_client, make_token(user_id="u1")).status_code == 200


# What a platform fills the kit's hooks with: a check that knows only the users its test registered.
_known_here: set[str] = set()


def know(user_id: str, username: str) -> None:
    _known_here.add(user_id)


def refuse_strangers(claims: dict) -> None:
    from service_kit.auth import InvalidToken

    if claims["user_id"] not in _known_here:
        raise InvalidToken("The user of this token does not exist here.")


def test_the_token_check_hook_is_the_platforms_and_the_test_clients_register_through_it(api_client, settings):
    from service_kit.testing import register_known_user

    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "JWT": {**TEST_JWT_SETTINGS, "TOKEN_CHECK": f"{__name__}.refuse_strangers",
                                                           "KNOWN_USER": f"{__name__}.know"}}
    stranger, known = "0d1b4f7e-7c8b-4d3b-9a9e-5d7b1c2f0a11", "5f2c1a7e-2b8d-4c1e-8f3a-9b6d0e4c7a22"
    register_known_user(known, "ada")

    _assert_unauthorized(_get(api_client, make_token(user_id=stranger)), "does not exist here")
    assert _get(api_client, make_token(user_id=known)).status_code == 200


def test_without_the_hooks_every_validly_signed_token_is_trusted_and_registering_does_nothing(api_client):
    from service_kit.testing import register_known_user

    register_known_user("7e3a9c1d-4b2f-4e8a-b6c0-1d5f9a2e3b44")  # no KNOWN_USER: nothing to call, nothing fails

    assert _get(api_client, make_token(user_id="7e3a9c1d-4b2f-4e8a-b6c0-1d5f9a2e3b44")).status_code == 200
