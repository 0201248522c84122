"""The rule "is this poll open at a moment", in Python and as SQL: the two forms agree on every case."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from event_contracts.polls import poll_is_open, poll_is_open_sql

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
CASES = [
    ("open", None, True),
    ("open", AT + timedelta(seconds=1), True),
    ("open", AT, False),  # closes_at is the first moment it is closed
    ("open", AT - timedelta(seconds=1), False),
    ("closed", None, False),
    ("closed", AT + timedelta(days=1), False),
]


@pytest.mark.parametrize(("status", "closes_at", "is_open"), CASES)
def test_python_and_sql_agree(status, closes_at, is_open):
    assert poll_is_open(status=status, closes_at=closes_at, at=AT) is is_open
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE poll (status TEXT, closes_at TEXT)")
        db.execute("INSERT INTO poll VALUES (?, ?)", (status, closes_at.isoformat() if closes_at else None))
        query = "SELECT count(*) FROM poll WHERE " + poll_is_open_sql().replace("%s", "?")
        [(count,)] = db.execute(query, (AT.isoformat(),)).fetchall()
    assert count == is_open
