"""Group commit of the vote path: the votes that one web process's requests cast at the same moment are recorded
by one committer thread in one transaction, with one durable commit.

A request hands its vote, and the ``vote.cast`` event made in its own context (its correlation id and trace), to
the committer and waits. The committer takes whatever has queued meanwhile: none when the process is idle, so a
lone vote waits for no one, and as many as arrived during the previous commit under load, so a batch grows with
the load by itself, with no timer. One transaction then records them all (one guarded multi-row insert, one
outbox statement for the votes it recorded, one tally upsert) and commits once; only then is each request
answered, so a 201 still means committed.

Each request learns its own outcome: recorded, not recorded (a duplicate vote, an unknown poll or choice, a
closed poll: the insert leaves such a vote out, and the request then takes the one-by-one path, which says why
or records it once the read models caught up), or alone (the batch's transaction failed: every vote of it takes
the one-by-one path, so a vote that breaks the transaction fails no other one).
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass

from django.db import connection
from django_events import Event

from votes.models import Vote

logger = logging.getLogger(__name__)

# A bound on one transaction's size; the web process's threads (WEB_THREADS) bound a batch far below it.
MAX_BATCH = 256


class Outcome(enum.Enum):
    RECORDED = "recorded"
    NOT_RECORDED = "not recorded"
    ALONE = "alone"


@dataclass(frozen=True)
class _Pending:
    vote: Vote
    event: Event
    answer: Future[Outcome]


# Records a batch in one transaction; returns the ids of the votes it recorded.
Recorder = Callable[[Sequence[Vote], Sequence[Event]], AbstractSet[uuid.UUID]]


class Committer:
    """One process's committer: ``record`` blocks until the vote's batch has committed or failed."""

    def __init__(self, recorder: Recorder, *, max_batch: int = MAX_BATCH) -> None:
        self.recorder = recorder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(self, vote: Vote, event: Event) -> Outcome:
        pending = _Pending(vote, event, Future())
        self._queue.put(pending)
        self._ensure_running()
        return pending.answer.result()

    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vote-committer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        outcomes = [Outcome.ALONE] * len(batch)
        try:
            recorded = self.recorder([p.vote for p in batch], [p.event for p in batch])
            outcomes = [Outcome.RECORDED if p.vote.id in recorded else Outcome.NOT_RECORDED for p in batch]
        except Exception:
            # Whatever failed (one vote's row, a deadlock with another process's batch, the connection), each vote
            # is tried again alone by its own request, where its own error is its own answer.
            logger.warning("a batch of %d votes failed; each is cast alone", len(batch), exc_info=True)
        finally:
            for pending, outcome in zip(batch, outcomes, strict=True):
                pending.answer.set_result(outcome)
            # Back to the pool between batches (a broken one is discarded there): an idle process holds none.
            with suppress(Exception):
                connection.close()
