"""``LOGIN_LIMITS`` in settings, its defaults and what a sane value is."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class LoginLimits:
    # Failed logins let through before the first lock-out: an account's owner mistyping, a few users behind one
    # address.
    account_free_failures: int = 5
    address_free_failures: int = 20
    # Each failure past the free ones locks for twice as long as the one before, from this up to the maximum.
    first_lock_seconds: float = 1.0
    max_lock_seconds: float = 900.0
    # Failures older than this are forgotten.
    forget_after_seconds: float = 86400.0
    # Off with RATE_LIMITS=off (a fuzzing run's thousands of logins from one address).
    enabled: bool = True


def login_limits() -> LoginLimits:
    configured: dict[str, Any] = getattr(settings, "LOGIN_LIMITS", {})
    return LoginLimits(**{name.lower(): value for name, value in configured.items()})


def problems(configured: dict[str, Any]) -> list[str]:
    known = {field.name.upper() for field in fields(LoginLimits)}
    found = [f"LOGIN_LIMITS: unknown setting {name}" for name in configured if name not in known]
    if found:
        return found
    limits = LoginLimits(**{name.lower(): value for name, value in configured.items()})
    for name in ("account_free_failures", "address_free_failures"):
        value = getattr(limits, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            found.append(f"LOGIN_LIMITS: {name.upper()} must be a whole number of at least 1, not {value!r}")
    for name in ("first_lock_seconds", "max_lock_seconds", "forget_after_seconds"):
        value = getattr(limits, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            found.append(f"LOGIN_LIMITS: {name.upper()} must be a number of seconds above 0, not {value!r}")
    if not found and limits.max_lock_seconds < limits.first_lock_seconds:
        found.append("LOGIN_LIMITS: MAX_LOCK_SECONDS is below FIRST_LOCK_SECONDS")
    return found
