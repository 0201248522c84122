"""What poll.* events mean, beyond their fields: the rule every service applies to its own copy of a poll."""

from __future__ import annotations

from datetime import datetime


def poll_is_open(*, status: str, closes_at: datetime | None, at: datetime) -> bool:
    """A poll is open at ``at`` when its status is ``open`` and ``closes_at`` (if any) is still ahead.

    polls-service keeps ``status`` as stored and announces no event when ``closes_at`` passes, so each service
    compares ``closes_at`` with its own clock, by this rule.
    """
    return status == "open" and (closes_at is None or at < closes_at)


def poll_is_open_sql(*, status: str = "status", closes_at: str = "closes_at", at: str = "%s") -> str:
    """``poll_is_open`` as a SQL condition on a read model's columns, for a statement that must decide in the
    database, in the same statement as its write; ``at`` is the moment: a parameter (``%s``) by default, or a
    column of the statement's rows."""
    return f"{status} = 'open' AND ({closes_at} IS NULL OR {closes_at} > {at})"
