"""pytest plugin (``pytest11``): client fixtures, the test key trusted, throttle counters reset per test.

Imports of Django and DRF stay inside the fixtures: plugins load before pytest-django configures settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

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

    from .testing import TEST_PUBLIC_KEY_PEM

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
