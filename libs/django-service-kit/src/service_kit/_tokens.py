"""The test key pair (made at import, never committed) and the tokens good and bad made with it.

Kept apart from ``testing`` (which re-exports it) so that the client and the pytest plugin, which ``testing``
also re-exports, depend on it rather than on ``testing``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .jwks import jwk_thumbprint, public_jwk

TEST_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TEST_PUBLIC_KEY_PEM = (
    TEST_PRIVATE_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
TEST_KID = jwk_thumbprint(TEST_PRIVATE_KEY.public_key())
TEST_PUBLIC_JWK = public_jwk(TEST_PRIVATE_KEY.public_key())
TEST_JWT_SETTINGS: dict[str, Any] = {
    "ISSUER": "http://127.0.0.1:8000",
    "AUDIENCE": "polls-platform",
    "JWKS_URL": None,
    "PUBLIC_KEYS": [TEST_PUBLIC_KEY_PEM],
}

_DEFAULT = object()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expected_claims() -> tuple[str, str]:
    """The issuer and audience the service under test checks (its settings may differ from the defaults)."""
    from django.conf import settings

    if settings.configured:
        from .conf import kit_settings

        return kit_settings.JWT["ISSUER"], kit_settings.JWT["AUDIENCE"]
    return TEST_JWT_SETTINGS["ISSUER"], TEST_JWT_SETTINGS["AUDIENCE"]


def make_token(
    *,
    user_id: str,
    username: str = "alice",
    token_type: str = "access",
    expires_in: int = 300,
    issuer: Any = _DEFAULT,
    audience: Any = _DEFAULT,
    kid: str | None = TEST_KID,
    algorithm: str = "RS256",
    key: Any = None,
    **claims: Any,
) -> str:
    """An access token the kit accepts in tests; the options make the bad ones.

    ``expires_in=-60`` (expired), ``issuer=``/``audience=`` (wrong ones; None leaves the claim out),
    ``kid="nope"`` or None, ``token_type="refresh"``, ``algorithm="none"`` (unsigned) or ``"HS256"`` (signed
    with ``key``, default: the public key PEM, the classic key-confusion attack), ``key=`` another RSA key.
    Extra keyword arguments become claims (None removes one): ``sid=`` names the token's session (a fresh one
    by default).
    """
    expected_issuer, expected_audience = _expected_claims()
    now = int(time.time())
    payload: dict[str, Any] = {
        "token_type": token_type,
        "user_id": user_id,
        "username": username,
        "iss": expected_issuer if issuer is _DEFAULT else issuer,
        "aud": expected_audience if audience is _DEFAULT else audience,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        # A session of its own, as auth-service's tokens carry (``sid=None`` leaves it out).
        "sid": str(uuid.uuid4()),
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    headers = {"kid": kid} if kid is not None else {}
    if algorithm == "RS256":
        return jwt.encode(payload, key or TEST_PRIVATE_KEY, algorithm="RS256", headers=headers)
    # PyJWT refuses to make these on purpose, so they are assembled by hand.
    header = {"alg": algorithm, "typ": "JWT", **headers}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if algorithm == "none":
        return f"{signing_input}."
    if algorithm == "HS256":
        secret = key if key is not None else TEST_PUBLIC_KEY_PEM
        secret_bytes = secret.encode() if isinstance(secret, str) else secret
        signature = hmac.new(secret_bytes, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"
    raise ValueError(f"make_token cannot sign with {algorithm!r}")


def register_known_user(user_id: str, username: str = "alice") -> None:
    """Makes ``user_id`` a user this service knows, as its registration would, through ``JWT["KNOWN_USER"]`` (a
    no-op without one): a ``TOKEN_CHECK`` may refuse the token of a user it never heard of."""
    from django.utils.module_loading import import_string

    from .conf import kit_settings

    path = kit_settings.JWT["KNOWN_USER"]
    if path:
        import_string(path)(user_id, username)
