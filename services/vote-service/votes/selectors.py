import uuid
from dataclasses import dataclass

import django_events
from django.db import connection
from service_kit.errors import NotKnownYet

from votes.models import ChoiceTally, ChoiceView, PollView


@dataclass(frozen=True)
class ChoiceResult:
    choice_id: uuid.UUID
    text: str
    votes: int


@dataclass(frozen=True)
class PollResults:
    poll_id: uuid.UUID
    total: int
    choices: list[ChoiceResult]


_TALLY_TABLE = ChoiceTally._meta.db_table
# The poll's row, each of its choices (none: one row of NULLs) and the sum of each choice's few tally rows, in one
# round trip; no row at all when the poll is unknown. Works alike on PostgreSQL and SQLite.
_RESULTS = (
    f"SELECT c.id, c.text, (SELECT COALESCE(SUM(t.votes), 0) FROM {_TALLY_TABLE} t "
    f"WHERE t.poll_id = p.id AND t.choice_id = c.id) "
    f"FROM {PollView._meta.db_table} p LEFT JOIN {ChoiceView._meta.db_table} c ON c.poll_id = p.id "
    f"WHERE p.id = %s ORDER BY c.position, c.id"
)


def poll_results(*, poll_id: uuid.UUID, wait_for_new: bool = False) -> PollResults:
    """Exact counts from the tallies each vote adds to in its own transaction; every known choice is listed,
    with 0 when it has none.

    One query whatever the number of choices or votes. An unknown poll is a 404; with ``wait_for_new`` (a caller
    who may have created it a moment ago) it is first waited for, within django_events' bounds.
    """
    rows = django_events.wait_for_read_model(lambda: _results_rows(poll_id)) if wait_for_new else _results_rows(poll_id)
    if rows is None:
        raise NotKnownYet("poll", poll_id)
    to_uuid = ChoiceView._meta.pk.to_python
    results = [
        ChoiceResult(choice_id=to_uuid(choice_id), text=text, votes=int(votes))
        for choice_id, text, votes in rows
        if choice_id is not None
    ]
    # The total is the sum of the listed choices so that shares add up to 100%; votes for a choice deleted
    # since are kept but no longer shown.
    return PollResults(poll_id=poll_id, total=sum(r.votes for r in results), choices=results)


def _results_rows(poll_id: uuid.UUID) -> list[tuple[object, str, int]] | None:
    """None when the poll is unknown."""
    with connection.cursor() as cursor:
        cursor.execute(_RESULTS, [PollView._meta.pk.get_db_prep_value(poll_id, connection)])
        return cursor.fetchall() or None
