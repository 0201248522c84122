"""Multi-row ``INSERT ... ON CONFLICT`` straight from values, for the consumer's batches.

A consumer batch writes hundreds of rows. Building a Django model instance for each and letting ``bulk_create``
prepare it cost more than the database spent on the rows; here each value goes through its field's
``get_db_prep_save`` only. PostgreSQL takes a column per array parameter (``unnest``), SQLite (3.35+) rows of
placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str,
    conflict: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (values in ``columns`` order); on a ``conflict`` with an existing row, set its ``update``
    fields to the new values, or leave it alone when there are none. Returns the ``returning`` fields of the rows
    inserted or updated (on PostgreSQL and SQLite, a row left alone is not returned)."""
    if not rows:
        return []
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]

    def column_list(names: Sequence[str]) -> str:
        return ", ".join(quote(model._meta.get_field(name).column) for name in names)

    if update:
        action = "DO UPDATE SET " + ", ".join(
            f"{quote(column)} = EXCLUDED.{quote(column)}" for column in (model._meta.get_field(n).column for n in update)
        )
    else:
        action = "DO NOTHING"
    tail = f"ON CONFLICT ({column_list(conflict)}) {action}" + (f" RETURNING {column_list(returning)}" if returning else "")
    head = f"INSERT INTO {quote(model._meta.db_table)} ({column_list(columns)}) "
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"

    columns_prepared = [_prepared(field, [row[i] for row in rows], connection) for i, field in enumerate(fields)]
    if connection.vendor == "postgresql":
        # One array parameter per column keeps the statement short: psycopg caches the parsing of short statements
        # and re-parses a long one, with a placeholder per value, on every call (a third of a batch's time).
        arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in fields)
        statements = [(f"{head}SELECT * FROM unnest({arrays}) {tail}", columns_prepared)]
    else:
        prepared = list(zip(*columns_prepared))
        chunk = max(1, connection.ops.bulk_batch_size(fields, prepared))
        statements = [
            (head + "VALUES " + ", ".join([placeholder] * len(part)) + " " + tail, [v for row in part for v in row])
            for part in (prepared[start : start + chunk] for start in range(0, len(prepared), chunk))
        ]
    returned: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            if returning:
                returned.extend(cursor.fetchall())
    return returned


def _prepared(field: Field[Any, Any], values: list[Any], connection: BaseDatabaseWrapper) -> list[Any]:
    # A batch's rows share many value objects (a subscriber's name, the batch's time): prepare each one once.
    done: dict[int, Any] = {}
    prepared = []
    for value in values:
        key = id(value)
        if key not in done:
            done[key] = field.get_db_prep_save(value, connection)
        prepared.append(done[key])
    return prepared
