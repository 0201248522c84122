"""Rate limits counted in the service's own database, shared by all its processes and pods.

Why PostgreSQL (each service's own database) rather than a cache server: every pod already reaches it, so limits
hold across pods with no new server to run, secure and keep up; a row is dropped only when it has expired, never
evicted by other callers' traffic as an LRU cache's entries are; and one atomic upsert per limit and request
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) counts concurrent requests exactly, where a cache's
read-then-write (DRF's own throttles) lets parallel requests through uncounted. It costs a write per limited request.
"""

from __future__ import annotations

import math
import random
import time
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


def hit(key: str, *, limit: int, window: float, now: float | None = None) -> Verdict:
    """Counts a request of ``key`` against ``limit`` requests per ``window`` seconds. Refused requests count too:
    a caller that keeps hammering stays refused until it slows down."""
    now = time.time() if now is None else now
    number = int(now // window)
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        # Every SET expression reads the row as it was (PostgreSQL and SQLite alike).
        cursor.execute(
            f"""
            INSERT INTO {table} (key, window_number, count, previous, expires_at) VALUES (%s, %s, 1, 0, %s)
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN {table}.window_number = excluded.window_number THEN {table}.count + 1 ELSE 1 END,
                previous = CASE WHEN {table}.window_number = excluded.window_number THEN {table}.previous
                                WHEN {table}.window_number = excluded.window_number - 1 THEN {table}.count
                                ELSE 0 END,
                window_number = excluded.window_number,
                expires_at = excluded.expires_at
            RETURNING count, previous
            """,
            [key, number, (number + 2) * window],
        )
        count, previous = cursor.fetchone()
        if random.randrange(SWEEP_ONE_IN) == 0:
            cursor.execute(f"DELETE FROM {table} WHERE expires_at < %s", [now])
    elapsed = (now - number * window) / window  # of this window, 0..1
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
