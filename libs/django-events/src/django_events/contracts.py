"""Event contracts: a catalogue of JSON Schemas, one per event type and version, and typed payloads read from it.

A catalogue is a directory holding ``<type>/v<version>.json``, each the JSON Schema of that event's ``data``.
Producers validate what they publish against it (``DJANGO_EVENTS["VALIDATE_PUBLISHED"]``, on in tests);
consumers declare the fields they read as a ``Payload`` and a test checks the declaration against the contract
(``payload_problems``); ``breaking_changes`` tells whether a new schema breaks the one published before it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

from ._extras import missing_extra
from .envelope import Event, InvalidEvent

SCHEMA_FILE_PREFIX = "v"
# The schema's field naming the event type's owner: the service (envelope ``source``) that alone publishes it.
OWNER_FIELD = "x-producer"


class ContractViolation(ValueError):
    """Event data that its contract does not allow, or an event type and version with no contract."""


@dataclasses.dataclass(frozen=True)
class Catalogue:
    directory: Path

    def schemas(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Every (type, version, schema), sorted by type and version."""
        found = []
        for path in self.directory.glob(f"*/{SCHEMA_FILE_PREFIX}*.json"):
            found.append((path.parent.name, int(path.stem.removeprefix(SCHEMA_FILE_PREFIX)), path))
        for event_type, version, path in sorted(found):
            yield event_type, version, json.loads(path.read_text())

    def owners(self, field: str = OWNER_FIELD) -> dict[str, str]:
        """Event type -> its owner, the ``source`` its producer publishes under, from each schema's ``field``
        (``x-producer``): what the ``OWNERS`` setting takes. Every version of a type must name the same owner."""
        found: dict[str, str] = {}
        for event_type, version, schema in self.schemas():
            owner = schema.get(field)
            if not isinstance(owner, str) or not owner:
                raise ContractViolation(f"{event_type} v{version} names no owner ({field})")
            if found.setdefault(event_type, owner) != owner:
                earlier = found[event_type]
                raise ContractViolation(f"{event_type} v{version} names owner {owner!r}, an earlier version {earlier!r}")
        return found

    def schema(self, event_type: str, version: int) -> dict[str, Any]:
        path = self.directory / event_type / f"{SCHEMA_FILE_PREFIX}{version}.json"
        if not path.is_file():
            raise ContractViolation(f"no contract for version {version} of {event_type} in {self.directory}")
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def validate(self, event_type: str, version: int, data: dict[str, Any]) -> None:
        errors = sorted(_validator(self, event_type, version).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            reasons = "; ".join(f"{'.'.join(map(str, e.path)) or 'data'}: {e.message}" for e in errors)
            raise ContractViolation(f"{event_type} v{version} breaks its contract: {reasons}")


@functools.cache
def _validator(catalogue: Catalogue, event_type: str, version: int) -> Any:
    try:
        from jsonschema import Draft202012Validator
    except ModuleNotFoundError as error:
        raise missing_extra(error, "contracts", 'DJANGO_EVENTS["CONTRACTS"]') from error

    schema = catalogue.schema(event_type, version)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def configured_catalogue() -> Catalogue | None:
    from .conf import events_settings

    directory = events_settings.CONTRACTS
    return Catalogue(Path(directory)) if directory else None


def schema_id(event_type: str, version: int) -> str | None:
    """The ``$id`` of the contract of ``event_type`` v``version`` in the configured catalogue: what a published
    event names as its CloudEvents ``dataschema``. None without a catalogue or a contract."""
    from .conf import events_settings

    directory = events_settings.CONTRACTS
    return _schema_id(str(directory), event_type, version) if directory else None


@functools.cache
def _schema_id(directory: str, event_type: str, version: int) -> str | None:
    try:
        found = Catalogue(Path(directory)).schema(event_type, version).get("$id")
    except ContractViolation:
        return None
    return str(found) if found else None


def validate_published(event: Event) -> None:
    """Called by ``publish`` when ``VALIDATE_PUBLISHED`` is on."""
    catalogue = configured_catalogue()
    if catalogue is None:
        raise ContractViolation("VALIDATE_PUBLISHED is on but DJANGO_EVENTS['CONTRACTS'] names no catalogue")
    catalogue.validate(event.type, event.version, event.data)


# What a change to a published schema may not do without a new version.


def breaking_changes(
    published: dict[str, Any],
    current: dict[str, Any],
    path: str = "data",
    *,
    upcaster: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    example: dict[str, Any] | None = None,
) -> list[str]:
    """How ``current`` would break a consumer of ``published``: a field removed, retyped, or newly required, or a
    limit (``maxLength``, ``maximum``...) widened or dropped.

    Adding an optional field is not a break, nor is stating or tightening a limit (a producer sending less breaks
    no consumer); every other change needs a new version of the event. A widened limit does: consumers size what
    they keep to it (a read model's column).

    With an ``upcaster`` from ``published``'s version to ``current``'s (``upcasting``), consumers written for
    ``current`` read ``published`` events through it: the change breaks them only if what the upcaster makes of
    ``example`` (data valid against ``published``) is not valid against ``current``.
    """
    if upcaster is not None:
        if example is None:
            raise TypeError("breaking_changes with an upcaster needs an example of the published data")
        return _upcast_problems(published, current, path, upcaster, example)
    problems = []
    before, after = published.get("properties", {}), current.get("properties", {})
    for name, field_schema in before.items():
        where = f"{path}.{name}"
        if name not in after:
            problems.append(f"{where} was removed")
            continue
        if _shape(field_schema) != _shape(after[name]):
            problems.append(f"{where} changed from {_shape(field_schema)} to {_shape(after[name])}")
        problems.extend(_widened_limits(field_schema, after[name], where))
        problems.extend(breaking_changes(field_schema, after[name], where))
    for name in sorted(set(current.get("required", [])) - set(published.get("required", []))):
        problems.append(f"{path}.{name} became required")
    return problems


def _upcast_problems(
    published: dict[str, Any], current: dict[str, Any], path: str,
    upcaster: Callable[[dict[str, Any]], dict[str, Any]], example: dict[str, Any],
) -> list[str]:
    try:
        from jsonschema import Draft202012Validator
    except ModuleNotFoundError as error:
        raise missing_extra(error, "contracts", "breaking_changes with an upcaster") from error
    if problems := [f"{path}: {e.message} (the example)" for e in Draft202012Validator(published).iter_errors(example)]:
        return problems
    upcast = upcaster(dict(example))
    return [f"{path}: {e.message} (after the upcaster)" for e in Draft202012Validator(current).iter_errors(upcast)]


# A limit and the direction that widens it: +1 when a larger value lets more through.
_LIMITS = {"maxLength": 1, "maximum": 1, "exclusiveMaximum": 1, "maxItems": 1, "minLength": -1, "minimum": -1,
           "exclusiveMinimum": -1, "minItems": -1}


def _widened_limits(published: dict[str, Any], current: dict[str, Any], where: str) -> list[str]:
    problems = []
    for limit, wider in _LIMITS.items():
        if limit not in published:
            continue
        if limit not in current:
            problems.append(f"{where} lost its {limit} ({published[limit]})")
        elif (current[limit] - published[limit]) * wider > 0:
            problems.append(f"{where}'s {limit} went from {published[limit]} to {current[limit]}")
    return problems


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """What a field's schema promises about its values (not its description)."""
    return {k: v for k, v in schema.items() if k in ("type", "format", "enum", "const", "items")}


# Typed payloads: what a consumer reads of an event's data, as a frozen dataclass.


class Payload:
    """Base of a consumer's typed view of one event type and version::

        @dataclass(frozen=True)
        class PollCreated(django_events.Payload, type="poll.created", version=1):
            poll_id: uuid.UUID
            closes_at: datetime | None

    A projection method or handler annotated with it receives ``PollCreated.of(event)`` instead of the raw
    event; ``publish(PollCreated(...), key=...)`` sends one, so the same dataclass serves the producer and
    its consumers. ``payload_problems`` checks its fields against the contract.
    """

    event_type: ClassVar[str]
    version: ClassVar[int]

    def to_data(self) -> dict[str, Any]:
        """The event's ``data``, as ``publish`` sends it: UUIDs as strings, datetimes in ISO 8601 to the
        microsecond (not the millisecond of Django's JSON encoder: consumers compare these instants)."""
        return {name: _to_json(getattr(self, name)) for name in _fields(type(self))}

    def __init_subclass__(cls, *, type: str, version: int = 1, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_type = type
        cls.version = version

    @classmethod
    def of(cls, event: Event) -> Self:
        if (event.type, event.version) != (cls.event_type, cls.version):
            raise InvalidEvent(f"{cls.__name__} reads {cls.event_type} v{cls.version}, not {event.type} v{event.version}")
        values = {}
        for name, annotation in _fields(cls).items():
            if name not in event.data:
                raise InvalidEvent(f"{event.type} v{event.version} has no {name!r}, which {cls.__name__} reads")
            try:
                values[name] = _convert(event.data[name], annotation)
            except (TypeError, ValueError) as error:
                raise InvalidEvent(f"{event.type} v{event.version}: {name!r} is not a {annotation}: {error}") from error
        return cls(**values)


_payload_fields: dict[type[Payload], dict[str, Any]] = {}


def _fields(cls: type[Payload]) -> dict[str, Any]:
    if cls not in _payload_fields:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        hints = typing.get_type_hints(cls)
        _payload_fields[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _payload_fields[cls]


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _convert(value: Any, annotation: Any) -> Any:
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError("it is null")
    target = next(option for option in options if option is not type(None))
    if target is uuid.UUID:
        return uuid.UUID(str(value))
    if target is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if target in (str, int, bool, float) and not isinstance(value, target):
        raise TypeError(f"{value!r} is a {type(value).__name__}")
    if typing.get_origin(target) is typing.Literal and value not in typing.get_args(target):
        raise ValueError(f"{value!r} is none of {typing.get_args(target)}")
    return value


_JSON_TYPES: dict[Any, tuple[str, str | None]] = {
    str: ("string", None),
    int: ("integer", None),
    float: ("number", None),
    bool: ("boolean", None),
    uuid.UUID: ("string", "uuid"),
    dt.datetime: ("string", "date-time"),
}


def payload_problems(payload: type[Payload], catalogue: Catalogue) -> list[str]:
    """What a payload reads that its contract does not promise: a missing or optional field, a field's type."""
    schema = catalogue.schema(payload.event_type, payload.version)
    required = set(schema.get("required", []))
    problems = []
    for name, annotation in _fields(payload).items():
        where = f"{payload.__name__}.{name}"
        if name not in schema.get("properties", {}) or name not in required:
            problems.append(f"{where}: {payload.event_type} v{payload.version} does not promise {name!r}")
            continue
        promised = schema["properties"][name]
        options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
        declared_types = {_JSON_TYPES[o][0] if o in _JSON_TYPES else "string" for o in options if o is not type(None)}
        promised_types = promised.get("type", "string" if "enum" in promised else None)
        promised_set = set(promised_types) if isinstance(promised_types, list) else {promised_types}
        if "null" in promised_set and type(None) not in options:
            problems.append(f"{where}: the contract allows null; declare it Optional")
        if not (promised_set - {"null"}) <= declared_types:
            problems.append(f"{where}: the contract says {sorted(promised_set)}, the payload {sorted(declared_types)}")
    return problems


@functools.cache
def annotated_payloads(function: Any) -> tuple[type[Payload], ...]:
    """The payloads a handler's event parameter is annotated with (``PollCreated``, or a union of them); empty when
    it takes the raw ``Event``."""
    hints = typing.get_type_hints(function)
    hints.pop("return", None)
    if not hints:
        return ()
    annotation = next(iter(hints.values()))
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return tuple(o for o in options if isinstance(o, type) and issubclass(o, Payload))


def payload_readers(function: Any) -> dict[int, type[Payload]]:
    """The payloads a handler reads (``annotated_payloads``), by version."""
    return {payload.version: payload for payload in annotated_payloads(function)}
