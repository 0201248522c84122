"""``INSERT ... ON CONFLICT`` straight from values: the consumer's batches and the outbox row of ``publish``.

A consumer batch writes hundreds of rows. Building a Django model instance for each and letting ``bulk_create``
prepare it cost more than the database spent on the rows; here each value goes through its field's
``get_db_prep_save`` only. PostgreSQL takes a column per array parameter (``unnest``), SQLite (3.35+) rows of
placeholders.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def insert_rows(
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    using: str,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    add: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows``, each a dict of field names (or attnames) to values; the fields a row leaves out get
    their model defaults, and an auto primary key its next value. On a ``conflict`` with an existing row, set
    its ``update`` fields to the new values and add the new values to its ``add`` fields, or leave it alone
    when there are neither. Returns the ``returning`` fields of the rows written (on PostgreSQL and SQLite, a
    row left alone is not returned)."""
    if not rows:
        return []
    connection = connections[using]
    fields = tuple(f for f in model._meta.concrete_fields if not (f.db_returning and _value(rows[0], f) is _MISSING))
    columns = [_prepared(field, [_value(row, field) for row in rows], connection) for field in fields]
    # Many rows on PostgreSQL: one array parameter per column. psycopg caches the parsing of a short statement
    # and re-parses a long one, with a placeholder per value, on every call (a third of a consumer batch's
    # time); but an array's setup costs more than it saves for a single row.
    arrays = connection.vendor == "postgresql" and len(rows) > 1
    head, placeholder, tail = _statement(
        model, fields, tuple(conflict), tuple(update), tuple(add), tuple(returning), using, arrays
    )
    if arrays:
        statements = [(head + placeholder + tail, columns)]
    else:
        prepared = list(zip(*columns, strict=True))
        chunk = max(1, connection.ops.bulk_batch_size(list(fields), prepared))
        statements = [
            (head + ", ".join([placeholder] * len(part)) + tail, [v for row in part for v in row])
            for part in (prepared[start : start + chunk] for start in range(0, len(prepared), chunk))
        ]
    returned: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            if returning:
                returned.extend(cursor.fetchall())
    return returned


@functools.lru_cache(maxsize=256)
def _statement(
    model: type[Model],
    fields: tuple[Field[Any, Any], ...],
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    add: tuple[str, ...],
    returning: tuple[str, ...],
    using: str,
    arrays: bool,
) -> tuple[str, str, str]:
    """The statement's text before the values, for one row of values (or all the arrays), and after them."""
    connection = connections[using]
    quote = connection.ops.quote_name

    def column_list(names: Sequence[str]) -> str:
        return ", ".join(quote(_column(model, name)) for name in names)

    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "
    if arrays:
        head += "SELECT * FROM unnest"
        placeholder = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in fields) + ")"
    else:
        head += "VALUES "
        placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = ""
    if conflict:
        table = quote(model._meta.db_table)
        assignments = [f"{c} = EXCLUDED.{c}" for c in (quote(_column(model, name)) for name in update)]
        assignments += [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in (quote(_column(model, name)) for name in add)]
        action = ("DO UPDATE SET " + ", ".join(assignments)) if assignments else "DO NOTHING"
        tail = f" ON CONFLICT ({column_list(conflict)}) {action}"
    if returning:
        tail += f" RETURNING {column_list(returning)}"
    return head, placeholder, tail


_MISSING = object()


def _value(row: dict[str, Any], field: Field[Any, Any]) -> Any:
    if field.attname in row:
        return row[field.attname]
    return row.get(field.name, _MISSING)


def _prepared(field: Field[Any, Any], values: list[Any], connection: BaseDatabaseWrapper) -> list[Any]:
    # A batch's rows share many value objects (a subscriber's name, the batch's time): prepare each one once.
    # A default is made per row: it may be a callable such as uuid4.
    done: dict[int, Any] = {}
    prepared = []
    for value in values:
        if value is _MISSING:
            prepared.append(field.get_db_prep_save(field.get_default(), connection))
            continue
        key = id(value)
        if key not in done:
            done[key] = field.get_db_prep_save(value, connection)
        prepared.append(done[key])
    return prepared


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column, f"{model.__name__}.{name} is not a column"
    return field.column
