"""read_models.users, django-service-kit's TOKEN_CHECK: a token whose user was deleted, or never registered, or
whose session auth-service revoked, is refused without asking auth-service; a user registered a moment ago is
waited for."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django_events.testing import deliver, make_event
from service_kit.testing import make_token, register_known_user

from read_models.users.models import KnownUser, RevokedSession

URL = reverse("whoami")


def _registered(user_id: str, username: str = "ada"):
    return make_event("user.registered", {"user_id": user_id, "username": username}, key=user_id)


def _revoked(user_id: str, session_id: str, *, expires_in: timedelta = timedelta(days=1)):
    expires_at = (datetime.now(UTC) + expires_in).isoformat()
    data = {"user_id": user_id, "session_id": session_id, "reason": "logout", "expires_at": expires_at}
    return make_event("user.session_revoked", data, key=user_id)


def _get(api_client, user_id: str, **claims):
    return api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=user_id, username='ada', **claims)}")


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


@pytest.mark.django_db
def test_a_revoked_sessions_token_is_refused_and_the_users_other_sessions_pass(api_client):
    user_id, ended, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    deliver(_registered(user_id))
    assert _get(api_client, user_id, sid=ended).status_code == 200

    deliver(_revoked(user_id, ended))

    refused = _get(api_client, user_id, sid=ended)
    assert refused.status_code == 401, refused.content
    assert refused.json()["error"] == "invalid_token"
    assert "session of this token has ended" in refused.json()["message"]
    assert _get(api_client, user_id, sid=other).status_code == 200


@pytest.mark.django_db
def test_a_token_without_a_session_is_checked_for_its_user_alone(api_client):
    user_id = str(uuid.uuid4())
    deliver(_registered(user_id))

    assert _get(api_client, user_id, sid=None).status_code == 200


@pytest.mark.django_db
def test_the_user_and_the_session_are_checked_in_one_query(api_client, django_assert_num_queries):
    user_id = str(uuid.uuid4())
    deliver(_registered(user_id))
    token = make_token(user_id=user_id, username="ada")

    with django_assert_num_queries(1):
        assert api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.django_db
def test_revoked_sessions_are_forgotten_once_their_tokens_have_all_expired():
    user_id, old, recent = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    deliver(_registered(user_id), _revoked(user_id, old))
    RevokedSession.objects.filter(pk=old).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    # A revocation arriving late (a rebuild from the topic) of a session already over is not kept either.
    deliver(_revoked(user_id, recent), _revoked(user_id, str(uuid.uuid4()), expires_in=timedelta(seconds=-5)))

    assert set(RevokedSession.objects.values_list("pk", flat=True)) == {recent}


@pytest.mark.django_db
def test_a_revocation_delivered_twice_is_applied_once():
    user_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
    revoked = _revoked(user_id, session_id)

    deliver(revoked, revoked)

    assert RevokedSession.objects.get(pk=session_id).user_id == user_id


@pytest.mark.django_db
def test_the_kits_test_clients_register_their_user_through_the_known_user_hook(api_client):
    user_id = str(uuid.uuid4())
    register_known_user(user_id, "grace")

    assert KnownUser.objects.get(pk=user_id).username == "grace"
    assert _get(api_client, user_id).status_code == 200
