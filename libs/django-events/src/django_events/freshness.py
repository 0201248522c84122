"""Reading one's own writes across services: a request about a row another service created a moment ago waits,
within a bound, for this service's projection to hold it, so that a client never has to retry a 404.

A waiting request holds one of its web process's threads while it sleeps, so the wait is bounded twice: in time
(``READ_MODEL_WAIT``) and in how many requests of one process may wait at once (``READ_MODEL_WAITERS``). A
request that finds every waiter's place taken answers at once with what it read, as it would have after the wait:
whoever sends requests for ids nobody created can hold at most that many threads, never all of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connections

from . import metrics
from .conf import events_settings

T = TypeVar("T")

# The first looks come quickly (the usual lag is a few tens of milliseconds), later ones less often.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.01, 0.1


class _Waiters:
    """How many requests of this process wait now, against ``READ_MODEL_WAITERS`` as it is set when one asks (a
    semaphore whose size follows the setting). Never blocks: a request either gets a place or does not wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = 0

    @contextmanager
    def place(self) -> Iterator[bool]:
        with self._lock:
            admitted = self.waiting < events_settings.READ_MODEL_WAITERS
            if admitted:
                self.waiting += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self.waiting -= 1


_waiters = _Waiters()


def waiting_now() -> int:
    """Requests of this process waiting for a read model at this moment."""
    return _waiters.waiting


def wait_for_read_model(read: Callable[[], T | None], *, timeout: float | None = None,
                        ready: Callable[[T], bool] = lambda found: True) -> T | None:
    """``read()`` until it returns a value that is ``ready``, for at most ``timeout`` seconds (the
    ``READ_MODEL_WAIT`` setting by default); the last value read (maybe None) when time runs out, or at once when
    ``READ_MODEL_WAITERS`` requests of this process are waiting already.

    Call it only for a client that may have created the row a moment ago (its own write path, an authenticated
    read); anyone else's request for an unknown id should read once and answer.

    Inside a transaction it waits on PostgreSQL (read committed: each read sees the consumer's commits) but
    not on SQLite, whose open transaction holds the write lock the consumer needs to write the awaited row.
    """
    found = read()
    if found is not None and ready(found):
        return found
    budget = events_settings.READ_MODEL_WAIT if timeout is None else timeout
    connection = connections[events_settings.DATABASE]
    if budget <= 0 or (connection.vendor == "sqlite" and connection.in_atomic_block):
        return found
    with _waiters.place() as admitted:
        if not admitted:
            metrics.read_model_waits_refused.labels(service=events_settings.SERVICE).inc()
            return found
        deadline = time.monotonic() + budget
        pause = _FIRST_PAUSE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return found
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)
            found = read()
            if found is not None and ready(found):
                return found
