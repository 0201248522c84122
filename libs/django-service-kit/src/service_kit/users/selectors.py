from __future__ import annotations

import time

from ..conf import kit_settings
from .models import KnownUser


def user_is_known(user_id: str) -> bool:
    """Whether ``user_id`` is a user auth-service registered and has not deleted.

    A user who registered a moment ago may not have reached this read model yet (the event travels through the
    outbox, the relay and Kafka), so an id not seen at all is looked up again for up to ``WAIT_SECONDS``; a
    deleted one is refused at once."""
    settings = kit_settings.KNOWN_USERS
    deadline = time.monotonic() + settings["WAIT_SECONDS"]
    while True:
        deleted = KnownUser.objects.filter(pk=user_id).values_list("deleted", flat=True).first()
        if deleted is not None:
            return not deleted
        if time.monotonic() >= deadline:
            return False
        time.sleep(settings["POLL_SECONDS"])
