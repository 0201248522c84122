from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connections, router
from service_kit.auth import InvalidToken

from .models import KnownUser, RevokedSession

# settings.KNOWN_USERS, over these: how long a user not heard of yet is waited for before the token is refused.
# The relay and the consumer bring a registration in well under a second when they are up.
DEFAULTS = {"WAIT_SECONDS": 5.0, "POLL_SECONDS": 0.05}

# One short statement rather than a queryset: it runs on every authenticated request, and building and compiling
# the ORM's query cost several times the round trip. The session's revocation is asked in the same statement, an
# index lookup beside the user's, so ending sessions costs the hot path no second round trip.
_STATE_OF = (
    f"SELECT deleted, EXISTS (SELECT 1 FROM {RevokedSession._meta.db_table} WHERE id = %s) "
    f"FROM {KnownUser._meta.db_table} WHERE id = %s"
)

USER_UNKNOWN = "The user of this token does not exist: deleted, or never registered."
SESSION_ENDED = "The session of this token has ended (logged out, or revoked): log in again."


def _state_of(user_id: str, session_id: str) -> tuple[bool, bool] | None:
    """(the user's tombstone flag, whether the session was revoked); None when this service has not heard of the
    user."""
    with connections[router.db_for_read(KnownUser)].cursor() as cursor:
        cursor.execute(_STATE_OF, [session_id, user_id])
        row = cursor.fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


def token_check(claims: dict[str, Any]) -> None:
    """django-service-kit's ``SERVICE_KIT["JWT"]["TOKEN_CHECK"]``: refuses (``InvalidToken``) the token of a user
    auth-service never registered or deleted, and a token whose session (``sid``) auth-service revoked.

    A user who registered a moment ago may not have reached this read model yet (the event travels through the
    outbox, the relay and Kafka), so an id not seen at all is looked up again for up to ``WAIT_SECONDS``; a
    deleted one is refused at once. A token without ``sid`` (signed by an auth-service from before sessions, for
    at most its five minutes) is checked for its user only."""
    wait = {**DEFAULTS, **getattr(settings, "KNOWN_USERS", {})}
    user_id, session_id = str(claims["user_id"]), str(claims.get("sid") or "")
    deadline = time.monotonic() + wait["WAIT_SECONDS"]
    while True:
        state = _state_of(user_id, session_id)
        if state is not None:
            deleted, revoked = state
            if deleted:
                raise InvalidToken(USER_UNKNOWN)
            if revoked:
                raise InvalidToken(SESSION_ENDED)
            return
        if time.monotonic() >= deadline:
            raise InvalidToken(USER_UNKNOWN)
        time.sleep(wait["POLL_SECONDS"])
