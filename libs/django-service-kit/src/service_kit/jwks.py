"""RSA public keys as JWKs, and the key set a service trusts (configured keys plus auth-service's JWKS)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import urllib.request
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.utils.module_loading import import_string
from jwt.algorithms import RSAAlgorithm
from rest_framework import exceptions, status

from .conf import kit_settings, on_reload

logger = logging.getLogger(__name__)


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk_thumbprint(public_key: RSAPublicKey) -> str:
    """The RFC 7638 thumbprint: a kid both sides derive from the key alone, so a PEM needs no kid beside it."""
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def public_jwk(public_key: RSAPublicKey, *, kid: str | None = None) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid or jwk_thumbprint(public_key),
        "n": _b64(numbers.n),
        "e": _b64(numbers.e),
    }


def load_public_key(key: str | bytes | dict[str, Any]) -> tuple[str, RSAPublicKey]:
    """(kid, key) from a PEM (kid = thumbprint) or an RSA JWK (its own kid, else the thumbprint)."""
    public_key: object
    if isinstance(key, dict):
        if key.get("kty") != "RSA":
            raise ValueError(f"only RSA keys are trusted, not kty={key.get('kty')!r}")
        public_key = RSAAlgorithm.from_jwk(key)
    else:
        public_key = serialization.load_pem_public_key(key.encode() if isinstance(key, str) else key)
    if not isinstance(public_key, RSAPublicKey):
        raise ValueError("only RSA public keys are trusted")
    kid = key.get("kid") if isinstance(key, dict) else None
    return kid or jwk_thumbprint(public_key), public_key


def keys_from_jwks(document: dict[str, Any]) -> dict[str, RSAPublicKey]:
    keys: dict[str, RSAPublicKey] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            kid, public_key = load_public_key(jwk)
        except Exception as error:  # one malformed key must not hide the others
            logger.warning("ignoring a JWK that does not load: %s", error)
            continue
        keys[kid] = public_key
    return keys


class KeysUnavailable(exceptions.APIException):
    """The fetched keys are older than JWKS_MAX_AGE_SECONDS and auth-service's JWKS cannot be fetched: this
    service cannot tell a good token from a bad one, so it says so (503) rather than blaming the token (401)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "keys_unavailable"
    default_detail = "The keys that verify tokens cannot be refreshed right now; retry shortly."


class TrustedKeys:
    """Configured keys, plus the JWKS fetched lazily and cached; safe to share between threads.

    Fetched keys are refetched after JWKS_CACHE_SECONDS. While auth-service cannot be reached they keep
    verifying, but only until JWKS_MAX_AGE_SECONDS after the last successful fetch: a key withdrawn during an
    outage (or an outage an attacker arranged) must not stay trusted forever. Past that age a token no configured
    key verifies is answered with `KeysUnavailable` (503) until a fetch succeeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self._configured: dict[str, RSAPublicKey] | None = None
        self._fetched: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def configured(self) -> dict[str, RSAPublicKey]:
        if self._configured is None:
            keys = dict(load_public_key(key) for key in kit_settings.JWT["PUBLIC_KEYS"])
            if kit_settings.JWT["JWKS_PROVIDER"]:
                keys.update(keys_from_jwks(import_string(kit_settings.JWT["JWKS_PROVIDER"])()))
            self._configured = keys
        return self._configured

    def get(self, kid: str) -> RSAPublicKey | None:
        if kid in self.configured():
            return self.configured()[kid]
        jwt_settings = kit_settings.JWT
        if not jwt_settings["JWKS_URL"]:
            return None
        now = time.monotonic()
        stale = self._fetched_at is None or now - self._fetched_at > jwt_settings["JWKS_CACHE_SECONDS"]
        if stale or kid not in self._fetched:
            self._refresh(now)
        if self._fetched_at is None or now - self._fetched_at > jwt_settings["JWKS_MAX_AGE_SECONDS"]:
            raise KeysUnavailable()
        return self._fetched.get(kid)

    def _refresh(self, now: float) -> None:
        jwt_settings = kit_settings.JWT
        with self._lock:
            recently = self._attempted_at is not None and now - self._attempted_at < jwt_settings["JWKS_MIN_REFETCH_SECONDS"]
            if recently:
                return
            self._attempted_at = now
            try:
                with urllib.request.urlopen(jwt_settings["JWKS_URL"], timeout=jwt_settings["JWKS_TIMEOUT_SECONDS"]) as response:
                    document = json.load(response)
            except Exception as error:
                # Keep verifying with the keys we have (until JWKS_MAX_AGE_SECONDS): auth-service being down
                # for a while must not log everyone out.
                logger.warning("could not fetch the JWKS from %s: %s", jwt_settings["JWKS_URL"], error)
                return
            self._fetched = keys_from_jwks(document)
            self._fetched_at = now


trusted_keys = TrustedKeys()
on_reload(trusted_keys.clear)
