"""Per-account and per-address login limits with a growing lock-out, in the database every pod shares."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from login_limits.conf import problems
from login_limits.models import LoginFailures
from login_limits.services import LoginLocked, login_attempt_begin, login_attempt_succeeded
from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


def _login(api_client, username, password="wrong-password", address="203.0.113.1"):
    return api_client.post(reverse("token-obtain"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_an_account_is_locked_after_its_free_failures_from_any_address(api_client):
    user_create(username="ada")
    # Five failures, each from another address: the account counts them together.
    assert [_login(api_client, "ada", address=f"203.0.113.{n}").status_code for n in range(5)] == [401] * 5

    locked = _login(api_client, "ada", PASSWORD, address="198.51.100.1")

    assert locked.status_code == 429
    assert locked.json()["error"] == "login_locked"
    assert int(locked["Retry-After"]) >= 1
    # Not an answer about the password: the right one is refused as the wrong one would be.
    assert "access" not in locked.json()


def test_the_lock_out_doubles_with_each_failure_after_the_free_ones():
    start = timezone.now()
    waits = []
    now = start
    for _ in range(5):
        login_attempt_begin(username="ada", address=None, now=now)
    for _ in range(4):
        with pytest.raises(LoginLocked) as locked:
            login_attempt_begin(username="ada", address=None, now=now)
        waits.append(locked.value.wait)  # type: ignore[attr-defined]  # set by Throttled's __init__
        row = LoginFailures.objects.get(key="account:ada")
        assert row.locked_until is not None
        now = row.locked_until + timedelta(milliseconds=1)
        login_attempt_begin(username="ada", address=None, now=now)  # one more failure once the lock ends
    assert waits == [1, 2, 4, 8]


def test_the_lock_out_stops_at_its_maximum(settings):
    settings.LOGIN_LIMITS = {"MAX_LOCK_SECONDS": 3}
    now = timezone.now()
    for _ in range(12):
        row = LoginFailures.objects.filter(key="account:ada").first()
        now = max(now, row.locked_until) if row and row.locked_until else now
        login_attempt_begin(username="ada", address=None, now=now)
    row = LoginFailures.objects.get(key="account:ada")
    assert row.locked_until is not None
    assert (row.locked_until - now).total_seconds() == 3


def test_the_right_password_clears_the_accounts_failures(api_client):
    user_create(username="ada")
    for _ in range(4):
        _login(api_client, "ada")
    assert _login(api_client, "ada", PASSWORD).status_code == 200
    assert [_login(api_client, "ada").status_code for _ in range(4)] == [401] * 4


def test_an_address_is_limited_across_accounts_and_others_are_not(api_client, settings):
    settings.LOGIN_LIMITS = {"ADDRESS_FREE_FAILURES": 3}
    user_create(username="ada")
    assert [_login(api_client, f"guess-{n}", address="2001:db8:1:1::1").status_code for n in range(3)] == [401] * 3
    # The same /64, another account: locked.
    assert _login(api_client, "ada", PASSWORD, address="2001:db8:1:1::2").status_code == 429
    # Another client logs in.
    assert _login(api_client, "ada", PASSWORD, address="2001:db8:1:2::1").status_code == 200


def test_a_right_password_does_not_forgive_an_addresss_other_failures():
    for _ in range(3):
        login_attempt_begin(username="victim", address="203.0.113.9")
    login_attempt_begin(username="me", address="203.0.113.9")
    login_attempt_succeeded(username="me", address="203.0.113.9")
    assert LoginFailures.objects.get(key="address:203.0.113.9").failures == 3


def test_old_failures_are_forgotten():
    long_ago = timezone.now() - timedelta(days=2)
    for _ in range(4):
        login_attempt_begin(username="ada", address=None, now=long_ago)
    login_attempt_begin(username="ada", address=None)
    assert LoginFailures.objects.get(key="account:ada").failures == 1


def test_a_failing_store_is_no_500(api_client):
    user_create(username="ada")
    with mock.patch("login_limits.services.LoginFailures.objects.get_or_create", side_effect=DatabaseError("gone")):
        assert _login(api_client, "ada").status_code == 401
        assert _login(api_client, "ada", PASSWORD).status_code == 200


def test_rate_limits_off_lifts_them(api_client, settings):
    settings.LOGIN_LIMITS = {"ENABLED": False}
    user_create(username="ada")
    assert {_login(api_client, "ada").status_code for _ in range(8)} == {401}


@pytest.mark.parametrize(("configured", "complaint"), [
    ({"ACCOUNT_FREE_FAILURES": 0}, "ACCOUNT_FREE_FAILURES"),
    ({"FIRST_LOCK_SECONDS": "1"}, "FIRST_LOCK_SECONDS"),
    ({"FIRST_LOCK_SECONDS": 10, "MAX_LOCK_SECONDS": 5}, "MAX_LOCK_SECONDS"),
    ({"ACOUNT_FREE_FAILURES": 5}, "unknown setting"),
])
def test_settings_are_checked(configured, complaint):
    assert any(complaint in problem for problem in problems(configured))
    assert problems({}) == []
