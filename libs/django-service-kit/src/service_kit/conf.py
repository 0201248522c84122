"""``settings.SERVICE_KIT`` with defaults; reloaded when a test overrides it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    "SERVICE": "",
    # The platform's public URL (scheme://host[:port], as clients reach the gateway), which page links start
    # with; empty makes them path-absolute references. Never taken from a request's Host.
    "PUBLIC_URL": "",
    "JWT": {
        # Who issues the tokens (their `iss`, e.g. the platform's public URL) and whom they are for (`aud`): the
        # deployment's to say; a token is never verified without both (ImproperlyConfigured).
        "ISSUER": None,
        "AUDIENCE": None,
        "JWKS_URL": None,
        "PUBLIC_KEYS": [],
        # Import path of a function returning a JWKS document: how auth-service trusts its own keys without
        # an HTTP call to itself.
        "JWKS_PROVIDER": None,
        # Fetched keys are trusted this long, so a key auth-service drops stops verifying soon after.
        "JWKS_CACHE_SECONDS": 300,
        # An unknown kid refetches the JWKS at most this often: garbage tokens must not hammer auth-service.
        "JWKS_MIN_REFETCH_SECONDS": 10,
        # Fetched keys stop being trusted this long after the last successful fetch when refetching keeps
        # failing: tokens are then answered 503 keys_unavailable (the token may be good; this service cannot tell).
        "JWKS_MAX_AGE_SECONDS": 3600,
        "JWKS_TIMEOUT_SECONDS": 2.0,
        "LEEWAY_SECONDS": 10,
        # Import path of a function (claims) -> None that raises service_kit.auth.InvalidToken when a validly
        # signed token no longer holds: its user deleted, its session (sid) revoked. None trusts every validly
        # signed token. The kit keeps no users: the platform fills it with its read model of them, auth-service
        # with its own tables.
        "TOKEN_CHECK": None,
        # Import path of a function (user_id, username) -> None that makes a user one TOKEN_CHECK accepts, as its
        # registration would: the test clients (service_kit.testing) call it. None: nothing to register.
        "KNOWN_USER": None,
    },
    # Event streams (service_kit.live): each watched key is read at most every READ_EVERY_MS per process, and
    # only a change is sent; an idle stream gets a comment every HEARTBEAT_SECONDS, well inside the gateway's
    # read timeout of its stream routes, so no proxy closes it; a client that lost its stream reconnects
    # after RETRY_MS (the stream's `retry:`).
    "LIVE": {
        "READ_EVERY_MS": 500,
        "HEARTBEAT_SECONDS": 15,
        "RETRY_MS": 3000,
    },
    "IDEMPOTENCY": {
        # A first request still "in flight" after this is taken as crashed; a retry may run it again.
        "IN_FLIGHT_TIMEOUT_SECONDS": 60,
    },
}


class KitSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _merged(self) -> dict[str, Any]:
        if self._cache is None:
            user = getattr(settings, "SERVICE_KIT", {}) or {}
            unknown = set(user) - set(DEFAULTS)
            if unknown:
                raise ValueError(f"unknown SERVICE_KIT keys: {sorted(unknown)}")
            merged: dict[str, Any] = {}
            for key, default in DEFAULTS.items():
                value = user.get(key, default)
                merged[key] = {**default, **value} if isinstance(default, dict) else value
            self._cache = merged
        return self._cache

    def __getattr__(self, name: str) -> Any:
        merged = self._merged()
        if name not in merged:
            raise AttributeError(name)
        return merged[name]

    def reload(self) -> None:
        self._cache = None


kit_settings = KitSettings()
_listeners: list[Any] = []


def on_reload(callback: Any) -> Any:
    """Registers ``callback()`` to run when SERVICE_KIT changes (caches built from it must drop)."""
    _listeners.append(callback)
    return callback


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "SERVICE_KIT":
        kit_settings.reload()
        for callback in _listeners:
            callback()


setting_changed.connect(_reload)
