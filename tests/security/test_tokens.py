"""Every way to present a token that must not let anyone in is a 401 with the JSON error body, at every
service that authenticates: forged, expired, tampered, aimed elsewhere, of the wrong kind, of a user who was
deleted or never existed, or sent where tokens are not read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from service_kit.jwks import jwk_thumbprint

from tests.e2e.conftest import eventually
from tests.security.conftest import (
    GATEWAY_PORT,
    LIMITS_ON,
    SIGNING_KEY,
    Platform,
    User,
    assert_json_error,
    client,
    fresh_user,
)

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
SOURCE = "127.0.1.1"
# The issuer dev/run.py gives the platform: its gateway's URL.
ISSUER = f"http://127.0.0.1:{GATEWAY_PORT}"


def protected(user: User | None = None) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One write (or read) per service that needs a caller; the bodies are valid, so only the token can fail."""
    some_id = str(uuid.uuid4())
    return [
        ("GET", "/api/auth/me/", None),
        ("POST", "/api/polls/", {"question": "Who let you in?"}),
        ("POST", "/api/choices/", {"poll_id": some_id, "text": "Nobody"}),
        ("POST", "/api/votes/", {"poll_id": some_id, "choice_id": some_id}),
    ]


def refused_everywhere(url: str, token: str | None, *, query: str = "") -> list[tuple[str, int, str]]:
    """Each protected endpoint's (path, status, error code); asked in parallel, as an unknown user is waited for."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}

    def ask(endpoint: tuple[str, str, dict[str, Any] | None]) -> tuple[str, int, str]:
        method, path, body = endpoint
        with client(url, SOURCE) as http:
            response = http.request(method, path + query, json=body, headers=headers)
        return path, response.status_code, assert_json_error(response, 401)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(ask, protected()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


class Forger:
    """Makes tokens as auth-service does, with its real signing key (an insider's view), and breaks one thing."""

    def __init__(self) -> None:
        self.key = serialization.load_pem_private_key(SIGNING_KEY.read_bytes(), password=None)
        self.kid = jwk_thumbprint(self.key.public_key())
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, user_id: str, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"token_type": "access", "user_id": user_id, "username": "mallory", "iss": ISSUER,
                  "aud": "polls-platform", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **changes}
        return {name: value for name, value in claims.items() if value is not None}

    def signed(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, **header})

    def unsigned(self, claims: dict[str, Any]) -> str:
        return _unsigned({"alg": "none", "typ": "JWT", "kid": self.kid}, claims) + "."

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": self.kid}, claims)
        signature = hmac.new(self.public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def with_odd_kid(self, claims: dict[str, Any], kid: Any) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": kid}
        signing_input = _unsigned(header, claims)
        signature = self.key.sign(signing_input.encode(), *_rs256())
        return f"{signing_input}.{_b64(signature)}"


def _rs256() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


@pytest.fixture(scope="module")
def victim(platform: Platform) -> User:
    return fresh_user(platform.url, SOURCE)


@pytest.fixture(scope="module")
def forger(platform: Platform) -> Forger:
    return Forger()


def _tampered(token: str, user_id: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = user_id
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


ATTACKS = {
    "alg-none": lambda forger, victim: forger.unsigned(forger.claims(victim.id)),
    "hs256-signed-with-the-public-key": lambda forger, victim: forger.hs256_with_public_key(forger.claims(victim.id)),
    "expired": lambda forger, victim: forger.signed(forger.claims(victim.id, exp=int(time.time()) - 3600)),
    "tampered-payload": lambda forger, victim: _tampered(forger.signed(forger.claims(str(uuid.uuid4()))), victim.id),
    "tampered-signature": lambda forger, victim: victim.access[:-4] + ("AAAA" if not victim.access.endswith("AAAA") else "BBBB"),
    "unknown-kid": lambda forger, victim: forger.with_odd_kid(forger.claims(victim.id), "no-such-key"),
    "empty-kid": lambda forger, victim: forger.with_odd_kid(forger.claims(victim.id), ""),
    "numeric-kid": lambda forger, victim: forger.with_odd_kid(forger.claims(victim.id), 12345),
    "path-kid": lambda forger, victim: forger.with_odd_kid(forger.claims(victim.id), "../../../../etc/passwd"),
    "long-kid": lambda forger, victim: forger.with_odd_kid(forger.claims(victim.id), "k" * 2000),
    "no-kid": lambda forger, victim: jwt.encode(forger.claims(victim.id), forger.key, algorithm="RS256"),
    "wrong-issuer": lambda forger, victim: forger.signed(forger.claims(victim.id, iss="someone-else")),
    "wrong-audience": lambda forger, victim: forger.signed(forger.claims(victim.id, aud="another-platform")),
    "no-audience": lambda forger, victim: forger.signed(forger.claims(victim.id, aud=None)),
    "refresh-as-access": lambda forger, victim: victim.refresh,
    "forged-refresh-type": lambda forger, victim: forger.signed(forger.claims(victim.id, token_type="refresh")),
    "unknown-user": lambda forger, victim: forger.signed(forger.claims(str(uuid.uuid4()))),
    "not-a-jwt": lambda forger, victim: "not.a.token",
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_token_that_must_not_pass_is_a_401_everywhere(platform: Platform, forger: Forger, victim: User, attack: str):
    token = ATTACKS[attack](forger, victim)

    refused_everywhere(platform.url, token)


def test_the_victims_own_token_passes_so_the_refusals_above_are_the_tokens_fault(platform: Platform, victim: User):
    with client(platform.url, SOURCE) as http:
        assert http.get("/api/auth/me/", headers=victim.authorization).status_code == 200
        poll = eventually(lambda: http.post("/api/polls/", json={"question": "Mine?"}, headers=victim.authorization),
                          until=lambda response: response.status_code == 201)
        assert poll.status_code == 201, poll.text


def test_a_token_in_the_query_string_is_not_read(platform: Platform, victim: User):
    for name in ("access_token", "token", "jwt", "Authorization"):
        refused_everywhere(platform.url, None, query=f"?{name}={victim.access}")


def test_a_deleted_users_token_is_refused_by_every_service(platform: Platform):
    user = fresh_user(platform.url, SOURCE)
    with client(platform.url, SOURCE) as http:
        # Known everywhere first: the deletion, not a registration still on its way, must be what refuses it.
        created = eventually(lambda: http.post("/api/polls/", json={"question": "Soon gone?"}, headers=user.authorization),
                             until=lambda response: response.status_code == 201)
        assert created.status_code == 201, created.text
        assert http.delete("/api/auth/me/", headers=user.authorization).status_code == 204
        # auth-service knows at once; the others when user.deleted reaches them.
        assert_json_error(http.get("/api/auth/me/", headers=user.authorization), 401)
        eventually(lambda: http.post("/api/votes/", json={"poll_id": created.json()["id"], "choice_id": str(uuid.uuid4())},
                                     headers=user.authorization), until=lambda response: response.status_code == 401)
        eventually(lambda: http.post("/api/choices/", json={"poll_id": created.json()["id"], "text": "x"},
                                     headers=user.authorization), until=lambda response: response.status_code == 401)
        eventually(lambda: http.post("/api/polls/", json={"question": "Still?"}, headers=user.authorization),
                   until=lambda response: response.status_code == 401)
    refused_everywhere(platform.url, user.access)
    with client(platform.url, SOURCE) as http:
        assert_json_error(http.post("/api/auth/token/refresh/", json={"refresh": user.refresh}), 401)
