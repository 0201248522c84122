"""service_kit.users: a token whose user was deleted, or never registered, is refused without asking
auth-service; a user registered a moment ago is waited for."""

import threading
import time
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse

if not apps.is_installed("service_kit.users"):
    pytest.skip("needs django-events: pytest --ds tests.settings_known_users", allow_module_level=True)

from django_events.testing import deliver, make_event  # noqa: E402

from service_kit.testing import make_token  # noqa: E402
from service_kit.users.models import KnownUser  # noqa: E402

URL = reverse("whoami")


def _registered(user_id: str, username: str = "ada"):
    return make_event("user.registered", {"user_id": user_id, "username": username}, key=user_id)


def _get(api_client, user_id: str):
    return api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=user_id, username='ada')}")


def _assert_refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_token"
    assert "does not exist" in response.json()["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_the_events_build_the_read_model():
    user_id = str(uuid.uuid4())
    deliver(_registered(user_id))
    assert KnownUser.objects.get(pk=user_id).deleted is False

    deliver(make_event("user.deleted", {"user_id": user_id}, key=user_id))
    assert KnownUser.objects.get(pk=user_id).deleted is True


@pytest.mark.django_db
def test_a_registered_user_is_let_in(api_client):
    user_id = str(uuid.uuid4())
    deliver(_registered(user_id))

    assert _get(api_client, user_id).status_code == 200


@pytest.mark.django_db
def test_a_deleted_user_is_refused_at_once(api_client):
    user_id = str(uuid.uuid4())
    deliver(_registered(user_id), make_event("user.deleted", {"user_id": user_id}, key=user_id))

    started = time.monotonic()
    _assert_refused(_get(api_client, user_id))
    assert time.monotonic() - started < 0.5  # a tombstone, not the wait for an unknown user


@pytest.mark.django_db
def test_a_user_never_registered_is_refused_after_the_wait(api_client):
    started = time.monotonic()
    _assert_refused(_get(api_client, str(uuid.uuid4())))
    assert time.monotonic() - started >= 1.0  # KNOWN_USERS WAIT_SECONDS of the test settings


@pytest.mark.django_db(transaction=True)
def test_a_registration_arriving_during_the_wait_lets_the_user_in(api_client):
    user_id = str(uuid.uuid4())
    def register_from_another_thread() -> None:
        try:
            deliver(_registered(user_id))
        finally:
            connection.close()

    arrives = threading.Timer(0.3, register_from_another_thread)
    arrives.start()
    try:
        assert _get(api_client, user_id).status_code == 200
    finally:
        arrives.join()
