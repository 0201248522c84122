"""Rate limits counted in the service's own database, shared by all its processes and pods.

Why PostgreSQL (each service's own database) rather than a cache server: every pod already reaches it, so limits
hold across pods with no new server to run, secure and keep up; a row is dropped only when it has expired, never
evicted by other callers' traffic as an LRU cache's entries are; and one atomic upsert per limit and request
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) counts concurrent requests exactly, where a cache's
read-then-write (DRF's own throttles) lets parallel requests through uncounted. It costs one statement per request,
however many limits count it (``hit_all``).
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import connection, transaction

from service_kit.models import RateCounter

# One request in this many also deletes the expired rows.
SWEEP_ONE_IN = 1000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # Seconds until a request would be admitted again (0 when allowed).
    wait: float


@dataclass(frozen=True)
class Limit:
    """``limit`` requests of ``key`` per ``window`` seconds."""

    key: str
    limit: int
    window: float


def hit(key: str, *, limit: int, window: float, now: float | None = None) -> Verdict:
    """Counts a request of ``key`` against ``limit`` requests per ``window`` seconds. Refused requests count too:
    a caller that keeps hammering stays refused until it slows down."""
    return hit_all([Limit(key, limit, window)], now=now)[0]


def hit_all(limits: Sequence[Limit], *, now: float | None = None) -> list[Verdict]:
    """``hit`` for each of ``limits`` (each of its own key), in one statement: a request that several limits
    count (burst, sustained, its view's scope) costs one round trip, not one transaction per limit.

    Outside a transaction the statement is its own (an upsert is atomic by itself); inside one, it runs in a
    savepoint, so that its failure leaves the caller's transaction usable."""
    now = time.time() if now is None else now
    ordered = sorted(limits, key=lambda limit: limit.key)  # rows locked in one order by every request
    params: list[str | int | float] = []
    for limit in ordered:
        number = int(now // limit.window)
        params += [limit.key, number, (number + 2) * limit.window]
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(_hit_sql(len(ordered), connection.ops.quote_name(RateCounter._meta.db_table)), params)
        counts = {key: (count, previous) for key, count, previous in cursor.fetchall()}
        if random.randrange(SWEEP_ONE_IN) == 0:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(RateCounter._meta.db_table)} WHERE expires_at < %s",
                           [now])
    return [_verdict(*counts[limit.key], limit=limit.limit, window=limit.window, now=now) for limit in limits]


@functools.cache
def _hit_sql(rows: int, table: str) -> str:
    # Every SET expression reads the row as it was (PostgreSQL and SQLite alike).
    values = ", ".join(["(%s, %s, 1, 0, %s)"] * rows)
    return f"""
        INSERT INTO {table} (key, window_number, count, previous, expires_at) VALUES {values}
        ON CONFLICT (key) DO UPDATE SET
            count = CASE WHEN {table}.window_number = excluded.window_number THEN {table}.count + 1 ELSE 1 END,
            previous = CASE WHEN {table}.window_number = excluded.window_number THEN {table}.previous
                            WHEN {table}.window_number = excluded.window_number - 1 THEN {table}.count
                            ELSE 0 END,
            window_number = excluded.window_number,
            expires_at = excluded.expires_at
        RETURNING key, count, previous
        """


def _verdict(count: int, previous: int, *, limit: int, window: float, now: float) -> Verdict:
    elapsed = (now - int(now // window) * window) / window  # of this window, 0..1
    # The tolerance keeps float rounding from refusing a request that fits exactly.
    if count + previous * (1 - elapsed) <= limit + 1e-9:
        return Verdict(True, 0.0)
    return Verdict(False, _seconds_until_room(count, previous, limit, window, elapsed))


def _seconds_until_room(count: int, previous: int, limit: int, window: float, elapsed: float) -> float:
    """When one more request would fit, if none came meanwhile: later in this window once the previous window's
    weight has shrunk enough, or else in the next one, once this window's has."""
    room = limit - 1 - count  # for the previous window's weighted share, in this window
    if room >= 0 and previous:
        return max(0.0, (1 - room / previous) - elapsed) * window
    # The next window: this one's count weighs (1 - its elapsed share) there.
    share = 1 - (limit - 1) / count if count else 0.0
    return (1 - elapsed) * window + max(0.0, share) * window


def retry_after(wait: float) -> int:
    """Whole seconds, at least one, as Retry-After says it."""
    return max(1, math.ceil(wait))
