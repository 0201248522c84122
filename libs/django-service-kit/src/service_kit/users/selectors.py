from __future__ import annotations

import time

from django.db import connections, router

from ..conf import kit_settings
from .models import KnownUser

# One short statement rather than a queryset: it runs on every authenticated request, and building and compiling
# the ORM's query cost several times the round trip.
_DELETED_OF = f"SELECT deleted FROM {KnownUser._meta.db_table} WHERE id = %s"


def _deleted_of(user_id: str) -> bool | None:
    """The user's tombstone flag, None when this service has not heard of the user."""
    with connections[router.db_for_read(KnownUser)].cursor() as cursor:
        cursor.execute(_DELETED_OF, [user_id])
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def user_is_known(user_id: str) -> bool:
    """Whether ``user_id`` is a user auth-service registered and has not deleted.

    A user who registered a moment ago may not have reached this read model yet (the event travels through the
    outbox, the relay and Kafka), so an id not seen at all is looked up again for up to ``WAIT_SECONDS``; a
    deleted one is refused at once."""
    settings = kit_settings.KNOWN_USERS
    deadline = time.monotonic() + settings["WAIT_SECONDS"]
    while True:
        deleted = _deleted_of(user_id)
        if deleted is not None:
            return not deleted
        if time.monotonic() >= deadline:
            return False
        time.sleep(settings["POLL_SECONDS"])
