"""Sessions that end: refresh tokens rotate, a reused one ends its family, logout and a password change end
sessions, and each end is announced to the other services."""

from datetime import timedelta

import jwt
import pytest
from django_events.testing import captured_events
from service_kit.errors import ApplicationError

from users import services
from users.models import Session
from users.services import (
    REVOCATION_MARGIN,
    InvalidCredentials,
    session_logout,
    token_pair_issue,
    token_refresh,
    user_password_change,
)
from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-horse-battery-staple"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _revocations(published) -> list[tuple[str, str]]:
    return [(e.data["session_id"], e.data["reason"]) for e in published if e.type == "user.session_revoked"]


def _refused(refresh: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        token_refresh(refresh=refresh)
    assert (raised.value.status, raised.value.code) == (401, "invalid_token")
    return raised.value


def test_a_login_starts_a_session_that_both_tokens_name_and_neither_outlives():
    user = user_create(username="ada")

    pair = token_pair_issue(username="ada", password=PASSWORD)

    access, refresh = _claims(pair.access), _claims(pair.refresh)
    session = Session.objects.get(user=user)
    assert access["sid"] == refresh["sid"] == str(session.id)
    assert refresh["jti"] == session.refresh_jti and session.revoked_at is None
    assert refresh["exp"] == int(session.expires_at.timestamp())
    assert access["exp"] <= refresh["exp"]


def test_refresh_rotates_the_refresh_token_within_the_session_without_extending_it():
    user_create(username="ada")
    first = token_pair_issue(username="ada", password=PASSWORD)

    second = token_refresh(refresh=first.refresh)

    assert second.refresh != first.refresh
    assert _claims(second.refresh)["sid"] == _claims(first.refresh)["sid"] == _claims(second.access)["sid"]
    assert _claims(second.refresh)["jti"] != _claims(first.refresh)["jti"]
    assert _claims(second.refresh)["exp"] == _claims(first.refresh)["exp"]
    assert token_refresh(refresh=second.refresh).refresh


def test_a_reused_refresh_token_ends_the_whole_session_and_says_so():
    user_create(username="ada")
    stolen = token_pair_issue(username="ada", password=PASSWORD)
    rotated = token_refresh(refresh=stolen.refresh)

    with captured_events() as published:
        refusal = _refused(stolen.refresh)

    assert "already used" in refusal.message
    session = Session.objects.get()
    assert session.revoked_reason == Session.EndReason.REFRESH_REUSE and session.revoked_at is not None
    assert _revocations(published) == [(str(session.id), "refresh_reuse")]
    # Committed despite the 401: the newer token, whoever holds it, is refused as well.
    _refused(rotated.refresh)


def test_a_revocation_is_remembered_until_every_token_of_the_session_has_expired():
    user = user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)

    with captured_events() as published:
        session_logout(refresh=pair.refresh)

    (event,) = published
    session = Session.objects.get(user=user)
    assert event.key == str(user.id)
    assert event.data["user_id"] == str(user.id)
    assert event.data["expires_at"] == (session.expires_at + REVOCATION_MARGIN).isoformat()
    assert timedelta(seconds=20) < REVOCATION_MARGIN  # both leeways: auth-service's and the verifier's


def test_logout_ends_the_session_once_and_its_refresh_tokens_stop_working():
    user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)
    other = token_pair_issue(username="ada", password=PASSWORD)

    with captured_events() as published:
        session_logout(refresh=pair.refresh)
        session_logout(refresh=pair.refresh)

    ended = Session.objects.get(pk=_claims(pair.refresh)["sid"])
    assert ended.revoked_reason == Session.EndReason.LOGOUT
    assert _revocations(published) == [(str(ended.id), "logout")]
    assert "ended" in _refused(pair.refresh).message
    assert token_refresh(refresh=other.refresh).access  # the user's other session goes on


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_logout_with_no_valid_refresh_token_is_401(refresh):
    with pytest.raises(ApplicationError) as raised:
        session_logout(refresh=refresh)

    assert raised.value.status == 401


def test_a_refresh_token_without_a_session_is_refused():
    from users.tokens import SignedRefreshToken

    user = user_create(username="ada")
    sessionless = str(SignedRefreshToken.for_user(user))

    assert "no session" in _refused(sessionless).message


def test_a_password_change_ends_every_session_and_starts_the_callers_anew():
    user = user_create(username="ada")
    others = [token_pair_issue(username="ada", password=PASSWORD) for _ in range(2)]
    current = token_pair_issue(username="ada", password=PASSWORD)

    with captured_events() as published:
        pair = user_password_change(user_id=str(user.id), current_password=PASSWORD, new_password=NEW_PASSWORD)

    ended = {_claims(p.refresh)["sid"] for p in [*others, current]}
    assert set(_revocations(published)) == {(sid, "password_change") for sid in ended}
    for old in [*others, current]:
        _refused(old.refresh)
    assert _claims(pair.access)["sid"] not in ended
    assert token_refresh(refresh=pair.refresh).access
    with pytest.raises(InvalidCredentials):
        token_pair_issue(username="ada", password=PASSWORD)
    assert token_pair_issue(username="ada", password=NEW_PASSWORD).access


def test_a_wrong_current_password_changes_nothing():
    user = user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)

    with captured_events() as published, pytest.raises(ApplicationError) as raised:
        user_password_change(user_id=str(user.id), current_password="not-it-at-all", new_password=NEW_PASSWORD)

    assert (raised.value.status, raised.value.code) == (400, "wrong_password")
    assert set(raised.value.details) == {"current_password"}
    assert published == []
    assert token_refresh(refresh=pair.refresh).access
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_weak_new_password_is_refused_with_the_validators_reason():
    user = user_create(username="ada")

    with pytest.raises(ApplicationError) as raised:
        user_password_change(user_id=str(user.id), current_password=PASSWORD, new_password="12345678")

    assert (raised.value.status, raised.value.code) == (400, "weak_password")
    assert set(raised.value.details) == {"new_password"}


def test_a_login_checked_against_a_password_changed_since_starts_no_session(monkeypatch):
    user = user_create(username="ada")
    checked_before_the_change = type(user).objects.get(pk=user.pk)
    user_password_change(user_id=str(user.id), current_password=PASSWORD, new_password=NEW_PASSWORD)
    monkeypatch.setattr(services, "authenticate", lambda **credentials: checked_before_the_change)

    with pytest.raises(InvalidCredentials):
        token_pair_issue(username="ada", password=PASSWORD)

    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 1  # the change's own
