"""pytest plugin (``pytest11``): client fixtures, the test key trusted, throttle counters reset per test, and
every error response a test client receives checked against the error convention (docs/errors.md).

Imports of Django and DRF stay inside the fixtures: plugins load before pytest-django configures settings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._errorcheck import error_body_problems

if TYPE_CHECKING:
    from rest_framework.test import APIClient

    from ._client import AuthClient


def _django_configured() -> bool:
    from django.conf import settings

    return settings.configured


@pytest.fixture(scope="session", autouse=True)
def service_kit_trusts_test_key() -> Iterator[None]:
    """Adds the test key to the trusted keys for the whole session (threads included)."""
    if not _django_configured():
        yield
        return
    from django.conf import settings
    from django.test import override_settings

    from ._tokens import TEST_PUBLIC_KEY_PEM

    configured = getattr(settings, "SERVICE_KIT", {})
    jwt_settings = configured.get("JWT", {})
    override = override_settings(
        SERVICE_KIT={
            **configured,
            "JWT": {**jwt_settings, "PUBLIC_KEYS": [*jwt_settings.get("PUBLIC_KEYS", []), TEST_PUBLIC_KEY_PEM]},
        }
    )
    override.enable()
    try:
        yield
    finally:
        override.disable()


@pytest.fixture(autouse=True)
def _service_kit_fresh_throttles() -> Iterator[None]:
    # Throttle counters live in the cache; left over, they would make one test's 429 depend on the others.
    if _django_configured():
        from django.core.cache import cache

        cache.clear()
    yield


# Probes answer with a status document of their own (a 503 from /readyz is "not ready", not an error of a request).
_PROBES = re.compile(r".*/(healthz|readyz|metrics)/?")


def _convention_problems(response: Any) -> list[str]:
    path = response.request.get("PATH_INFO", "") if isinstance(getattr(response, "request", None), dict) else ""
    if response.status_code < 400 or _PROBES.fullmatch(path):
        return []
    if not response.get("Content-Type", "").startswith("application/json"):
        return [f"a {response.status_code} of {path} is {response.get('Content-Type')!r}, not JSON"]
    return error_body_problems(json.loads(response.content), response.status_code)


@pytest.fixture(autouse=True)
def _service_kit_error_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error path a suite drives through Django's test client (DRF's APIClient included) is checked
    against the convention: a service cannot drift from it without failing its own tests."""
    if not _django_configured():
        return
    from django.test import Client

    request = Client.request

    def checked(self: Client, **kwargs: Any) -> Any:
        response = request(self, **kwargs)
        problems = _convention_problems(response)
        assert not problems, "error body breaks the convention (docs/errors.md):\n  " + "\n  ".join(problems)
        return response

    monkeypatch.setattr(Client, "request", checked)


@pytest.fixture
def api_client() -> APIClient:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_user_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def auth_client(auth_user_id: str) -> AuthClient:
    """Authenticated as ``auth_user_id``; call it, ``auth_client(user_id=...)``, for a client of another user."""
    from ._client import AuthClient

    return AuthClient(user_id=auth_user_id)
