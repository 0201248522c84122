"""Reading one's own writes across services: a request about a row another service created a moment ago waits,
within a bound, for this service's projection to hold it, so that a client never has to retry a 404."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

from .conf import events_settings

T = TypeVar("T")

# The first looks come quickly (the usual lag is a few tens of milliseconds), later ones less often.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.01, 0.1


def wait_for_read_model(read: Callable[[], T | None], *, timeout: float | None = None,
                        ready: Callable[[T], bool] = lambda found: True) -> T | None:
    """``read()`` until it returns a value that is ``ready``, for at most ``timeout`` seconds (the
    ``READ_MODEL_WAIT`` setting by default); the last value read (maybe None) when time runs out.

    Inside a transaction it waits on PostgreSQL (read committed: each read sees the consumer's commits) but
    not on SQLite, whose open transaction holds the write lock the consumer needs to write the awaited row.
    """
    budget = events_settings.READ_MODEL_WAIT if timeout is None else timeout
    connection = connections[events_settings.DATABASE]
    if connection.vendor == "sqlite" and connection.in_atomic_block:
        budget = 0.0
    deadline = time.monotonic() + budget
    pause = _FIRST_PAUSE
    while True:
        found = read()
        if found is not None and ready(found):
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return found
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE)
