"""Can a read model hold everything its contracts allow? ``contract_overflows`` answers for one projection by
feeding it the largest events the contracts allow and reading back what it kept.

It needs no map from contract fields to columns: whatever the projection makes of an event, a column that cannot
hold it fails on PostgreSQL (``value too long``) and a value longer than its field's ``max_length`` is found on
any database. Every service's tests run it over each of its projections.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, models, transaction
from django_events.contracts import Catalogue
from django_events.dispatch import apply_events
from django_events.envelope import Event
from django_events.projection import Projection
from django_events.registry import UnsupportedVersion


class Unbounded(ValueError):
    """A string field whose contract sets no limit: no read model can promise to hold it."""


def unbounded_strings(schema: dict[str, Any], path: str = "data") -> Iterator[str]:
    """The string fields of ``schema`` without a ``maxLength`` (a uuid, a date-time or an enum bounds itself)."""
    for name, field in schema.get("properties", {}).items():
        where = f"{path}.{name}"
        kinds = field.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        bounded = "maxLength" in field or "enum" in field or "const" in field or field.get("format") in _SIZED
        if "string" in kinds and not bounded:
            yield where
        yield from unbounded_strings(field, where)


# Formats whose strings have a length of their own (a uuid's 36 characters; an ISO 8601 time, parsed on arrival).
_SIZED = {"uuid", "date-time"}


def largest_data(schema: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Data of ``schema`` at its limits: each string as long as its ``maxLength``, the longest of an enum, times a
    day ahead (so nothing reads as already expired), ``ids[name]`` for a uuid named ``name`` (one id per field
    name, so the events of one aggregate meet on one row). Raises ``Unbounded`` for a string without a limit."""
    data: dict[str, Any] = {}
    for name, field in schema.get("properties", {}).items():
        data[name] = _largest(name, field, ids)
    return data


def _largest(name: str, field: dict[str, Any], ids: dict[str, str]) -> Any:
    if "const" in field:
        return field["const"]
    if "enum" in field:
        return max(field["enum"], key=lambda value: len(str(value)))
    kinds = field.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "string" in kinds:
        if field.get("format") == "uuid":
            return ids.setdefault(name, str(uuid.uuid4()))
        if field.get("format") == "date-time":
            return (datetime.now(UTC) + timedelta(days=1)).isoformat()
        if "maxLength" not in field:
            raise Unbounded(f"{name} is a string without maxLength")
        return "x" * int(field["maxLength"])
    if "integer" in kinds or "number" in kinds:
        return field.get("maximum", field.get("minimum", 0))
    if "boolean" in kinds:
        return True
    if "object" in kinds:
        return largest_data(field, ids)
    return None


def _order(event_type: str) -> tuple[bool, str]:
    # What makes a row first, what removes it last: each event in between meets the row it changes.
    return event_type.endswith(".deleted"), event_type


def contract_overflows(projection: Projection, catalogue: Catalogue, *, using: str = "default") -> list[str]:
    """What ``projection`` cannot keep of the largest events its contracts allow, as sentences; empty when it
    holds them all. Applies the events in a transaction it rolls back, so it leaves the database as it was."""
    problems: list[str] = []
    handled = projection.event_types()
    # Each event as its owner publishes it: a subscriber may take some sources only (handles(..., sources=...)).
    owners = catalogue.owners()
    ids: dict[str, str] = {}
    with transaction.atomic(using=using):
        for event_type, version, schema in sorted(catalogue.schemas(), key=lambda s: _order(s[0])):
            if event_type not in handled:
                continue
            where = f"{type(projection).__name__} ({projection.table}) on {event_type} v{version}"
            try:
                event = Event(type=event_type, key=str(uuid.uuid4()), data=largest_data(schema, ids), version=version,
                              source=owners[event_type])
            except Unbounded as error:
                problems.append(f"{where}: the contract's {error}")
                continue
            try:
                with transaction.atomic(using=using):
                    apply_events([event], [projection], using=using)
                    problems += [f"{where}: {problem}" for problem in _too_long(projection)]
            except UnsupportedVersion:
                continue
            except DatabaseError as error:
                problems.append(f"{where}: {str(error).strip()}")
        transaction.set_rollback(True, using=using)
    return problems


def _too_long(projection: Projection) -> Iterator[str]:
    """Values longer than their field's ``max_length`` (what SQLite stores anyway, and PostgreSQL refuses)."""
    text_fields = [f for f in projection.model._meta.concrete_fields if isinstance(f, models.CharField) and f.max_length]
    for row in projection.objects.values(*(f.attname for f in text_fields)):
        for field in text_fields:
            value = row[field.attname]
            if value is not None and len(str(value)) > (field.max_length or 0):
                yield f"{field.name} holds {len(str(value))} characters, its max_length is {field.max_length}"
