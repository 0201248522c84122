"""Test helpers: a key pair made at import (never committed), tokens good and bad, the error convention's check,
and pytest fixtures.

``from service_kit.testing import *`` in a conftest, or rely on the ``pytest11`` plugin, gives ``api_client``,
``auth_user_id`` and ``auth_client``; the plugin also makes the kit trust the test key in every test, and checks
every error response a test client receives against the error convention (``assert_error_body``).
``open_stream`` reads an answer as it comes (an event stream), through the web process's ASGI application.
"""

from __future__ import annotations

from typing import Any

from ._errorcheck import assert_error, assert_error_body, error_body_problems
from ._stream import StreamedAnswer, open_stream
from ._tokens import (
    TEST_JWT_SETTINGS,
    TEST_KID,
    TEST_PRIVATE_KEY,
    TEST_PUBLIC_JWK,
    TEST_PUBLIC_KEY_PEM,
    make_token,
    register_known_user,
)
from .pytest_plugin import api_client, auth_client, auth_user_id, service_kit_trusts_test_key

__all__ = [
    "TEST_JWT_SETTINGS",
    "TEST_KID",
    "TEST_PRIVATE_KEY",
    "TEST_PUBLIC_JWK",
    "TEST_PUBLIC_KEY_PEM",
    "AuthClient",  # noqa: F822 - served by __getattr__, which imports DRF only on use
    "api_client",
    "assert_error",
    "assert_error_body",
    "auth_client",
    "auth_user_id",
    "error_body_problems",
    "make_token",
    "register_known_user",
    "open_stream",
    "service_kit_trusts_test_key",
    "StreamedAnswer",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use: importing DRF's test module reads REST_FRAMEWORK, which must not happen while a
    # settings module imports TEST_JWT_SETTINGS from here.
    if name == "AuthClient":
        from ._client import AuthClient

        return AuthClient
    raise AttributeError(name)
