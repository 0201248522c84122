"""Login limits per account and per client address, with a lock-out that doubles with each failure.

Kept in auth-service's own PostgreSQL database, as the services' throttles are (service_kit.ratelimit): every pod
sees the same counts, rows stay until forgotten (no cache eviction), and a row lock (SELECT ... FOR UPDATE) makes
concurrent attempts count one after the other. Each attempt is counted as a failure before the password is
checked and forgiven once it proves right, so parallel guesses cannot all slip past the check together.

A lock-out of an account can be caused by anyone who knows its name: it stays short (FIRST_LOCK_SECONDS, doubling
to MAX_LOCK_SECONDS), and the address limit stops one client from keeping many accounts locked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone
from rest_framework.exceptions import Throttled

from login_limits.conf import LoginLimits, login_limits
from login_limits.models import LoginFailures

logger = logging.getLogger(__name__)


class LoginLocked(Throttled):
    default_detail = "Too many failed logins for this account or from this address."
    default_code = "login_locked"
    extra_detail_singular = "Retry in {wait} second."
    extra_detail_plural = "Retry in {wait} seconds."


@dataclass(frozen=True)
class _Limited:
    key: str
    free_failures: int
    forgiven_by_success: bool  # an account's right password clears it; an address's clears only that attempt


def _limited(*, username: str, address: str | None, limits: LoginLimits) -> list[_Limited]:
    keys = [_Limited(f"account:{username.lower()}", limits.account_free_failures, True)]
    if address:
        keys.append(_Limited(f"address:{address}", limits.address_free_failures, False))
    return keys


def _lock_seconds(failures: int, free_failures: int, limits: LoginLimits) -> float:
    doublings = failures - free_failures
    return min(limits.max_lock_seconds, limits.first_lock_seconds * 2 ** min(doublings, 32))


def login_attempt_begin(*, username: str, address: str | None, now: datetime | None = None) -> None:
    """Counts an attempt as a failure of the account and the address, unless either is locked out: then it raises
    LoginLocked (429 with Retry-After) and counts nothing. A store that fails lets the attempt through."""
    limits = login_limits()
    if not limits.enabled:
        return
    now = now or timezone.now()
    try:
        with transaction.atomic():
            rows = [_locked_row(limited.key) for limited in _limited(username=username, address=address, limits=limits)]
            locked = [row.locked_until for row in rows if row.locked_until is not None and row.locked_until > now]
            if locked:
                wait = (max(locked) - now).total_seconds()
                raise LoginLocked(wait=max(1, math.ceil(wait)))
            for row, limited in zip(rows, _limited(username=username, address=address, limits=limits), strict=True):
                forgotten = row.last_failure_at is None or now - row.last_failure_at > timedelta(
                    seconds=limits.forget_after_seconds)
                row.failures = 1 if forgotten else row.failures + 1
                row.last_failure_at = now
                if row.failures >= limited.free_failures:
                    row.locked_until = now + timedelta(seconds=_lock_seconds(row.failures, limited.free_failures, limits))
                row.save()
    except DatabaseError:
        logger.warning("login limits not counted: the database failed", exc_info=True)


def login_attempt_succeeded(*, username: str, address: str | None) -> None:
    """The password was right: the account's failures are cleared, the address's count of this attempt undone."""
    limits = login_limits()
    if not limits.enabled:
        return
    try:
        with transaction.atomic():
            for limited in _limited(username=username, address=address, limits=limits):
                row = _locked_row(limited.key)
                row.failures = 0 if limited.forgiven_by_success else max(0, row.failures - 1)
                row.locked_until = None
                row.save()
    except DatabaseError:
        logger.warning("login limits not cleared: the database failed", exc_info=True)


def _locked_row(key: str) -> LoginFailures:
    LoginFailures.objects.get_or_create(key=key)
    return LoginFailures.objects.select_for_update().get(key=key)
