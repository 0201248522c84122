"""CQRS read models fed by events, with tables the library owns so it can rebuild them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from django.apps.registry import Apps
from django.db import connections, models
from django.db.models import F, Model, QuerySet

from .conf import events_settings
from .contracts import payload_readers
from .envelope import Event
from .registry import UnsupportedVersion, registry
from .rows import insert_rows

_METHOD_PREFIX = "on_"
_table_models: dict[tuple[type[Model], str], type[Model]] = {}


def model_for_table(model: type[Model], table: str) -> type[Model]:
    """The read model's fields on another table (a rebuild's fresh one), in a private app registry."""
    if table == model._meta.db_table:
        return model
    cache_key = (model, table)
    if cache_key not in _table_models:
        meta = type("Meta", (), {"db_table": table, "managed": False, "app_label": model._meta.app_label, "apps": Apps()})
        attrs: dict[str, Any] = {"__module__": model.__module__, "Meta": meta}
        for model_field in model._meta.local_fields:
            attrs[model_field.name] = model_field.clone()
        _table_models[cache_key] = type(f"{model.__name__}On_{table}", (models.Model,), attrs)
    return _table_models[cache_key]


# Per model, per primary key, the fields held for it.
Held = dict[type[Model], dict[Any, dict[str, Any]]]


class PendingUpserts:
    """Upserts and additions held back during a batch and written as one multi-row statement per table, kind
    and column set.

    Upserts of one primary key merge (later values win; a row inserted with some fields and then updated with
    others ends up exactly as the merged upsert leaves it), additions to one primary key sum, so the result
    equals one statement per event; a row given both kinds in one batch has the first written before the second
    is held. They are written before any other SQL runs on the connection, so every read or write of a handler
    or of Django sees them, and at the end of the batch, inside its transaction.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.rows: Held = {}
        self.sums: Held = {}

    def upsert(self, model: type[Model], pk: Any, fields: dict[str, Any]) -> None:
        self._held(self.rows, self.sums, model, pk).update(fields)

    def add(self, model: type[Model], pk: Any, deltas: dict[str, Any]) -> None:
        sums = self._held(self.sums, self.rows, model, pk)
        for name, delta in deltas.items():
            sums[name] = sums.get(name, 0) + delta

    def _held(self, kind: Held, other: Held, model: type[Model], pk: Any) -> dict[str, Any]:
        # Normalised, so "1" and 1 (or a UUID and its string) are one row, not two rows one statement can't upsert.
        key = model._meta.pk.to_python(pk)
        if key in other.get(model, {}):
            self.flush()
        return kind.setdefault(model, {}).setdefault(key, {})

    def flush(self) -> None:
        # Emptied before writing: the writes run through before_execute, which must find nothing held.
        rows, sums = dict(self.rows), dict(self.sums)
        self.rows.clear()
        self.sums.clear()
        for model, by_pk in rows.items():
            _write(model, by_pk, using=self.using, kind="update")
        for model, by_pk in sums.items():
            _add_to_rows(model, by_pk, using=self.using)

    def before_execute(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.rows or self.sums:
            self.flush()
        return execute(sql, params, many, context)


def _write(model: type[Model], by_pk: dict[Any, dict[str, Any]], *, using: str, kind: str) -> None:
    """One ``insert_rows`` per column set: on a conflict, ``kind`` says whether the values replace the row's
    (``update``) or are added to them (``add``)."""
    pk = model._meta.pk.attname
    by_given: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, fields in by_pk.items():
        by_given.setdefault(tuple(sorted(fields)), []).append({**fields, pk: key})
    for given, group in by_given.items():
        insert_rows(model, group, using=using, conflict=[pk], **{kind: given})


def _add_to_rows(model: type[Model], by_pk: dict[Any, dict[str, Any]], *, using: str) -> None:
    """Adds each row's deltas to its fields, inserting a missing row with its deltas as values.

    Rows whose deltas are all positive or zero, the usual tally, go in one upsert per column set. A row with a
    negative delta is updated instead: PostgreSQL checks the row an upsert proposes against the table's CHECK
    constraints (a PositiveIntegerField's) before it finds the conflict, so a proposed -1 fails even where the
    sum would not. It is inserted only if it is missing, which such a constraint then refuses, as it should.
    """
    growing: dict[Any, dict[str, Any]] = {}
    for key, deltas in by_pk.items():
        if all(delta >= 0 for delta in deltas.values()):
            growing[key] = deltas
            continue
        changes = {name: F(name) + delta for name, delta in deltas.items()}
        if not model._default_manager.using(using).filter(pk=key).update(**changes):
            growing[key] = deltas
    _write(model, growing, using=using, kind="add")


_pending: ContextVar[PendingUpserts | None] = ContextVar("django_events_pending_upserts", default=None)


@contextmanager
def batched_upserts(using: str) -> Iterator[None]:
    """Inside the block, ``Projection.upsert`` writes are batched (see ``PendingUpserts``); call in a transaction."""
    if _pending.get() is not None:  # nested: the outer block flushes
        yield
        return
    pending = PendingUpserts(using)
    token = _pending.set(pending)
    try:
        with connections[using].execute_wrapper(pending.before_execute):
            yield
            pending.flush()
    finally:
        _pending.reset(token)


def type_of_method(name: str) -> str:
    """``on_poll_created`` handles ``poll.created``; the first underscore after the prefix is the dot."""
    return name[len(_METHOD_PREFIX) :].replace("_", ".", 1)


class Projection:
    """Base class of a read model kept up to date by events::

        class PollProjection(django_events.Projection):
            model = PollView                      # Meta.managed = False: the library owns the table

            def on_poll_created(self, event):     # poll.created
                self.upsert(event.data["poll_id"], question=event.data["question"])

    Every ``on_<aggregate>_<action>`` method handles version 1 of ``<aggregate>.<action>`` unless
    ``versions`` says otherwise; any other version is dead-lettered with a clear reason. A method whose event
    parameter is annotated with a ``Payload`` (or a union of a type's versions) receives the typed payload and
    handles the versions its payloads name::

            def on_poll_created(self, poll: PollCreated) -> None:
                self.upsert(poll.poll_id, question=poll.question)
    """

    model: ClassVar[type[Model]]
    versions: ClassVar[dict[str, set[int]]] = {}
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        if getattr(cls, "model", None) is not None:
            registry.add(cls())

    def __init__(self, table: str | None = None, *, name: str | None = None) -> None:
        self.table = table or self.model._meta.db_table
        if name:
            self.name = name  # type: ignore[misc]
        self.table_model = model_for_table(self.model, self.table)

    def event_types(self) -> set[str]:
        return set(_handled_types(type(self)))

    def apply(self, event: Event) -> None:
        method = getattr(self, _handled_types(type(self))[event.type])
        readers = payload_readers(method.__func__)
        if event.version not in (readers or self.versions.get(event.type, {1})):
            raise UnsupportedVersion(f"unsupported version {event.version} of {event.type}")
        method(readers[event.version].of(event) if readers else event)

    def bound_to(self, table: str, *, name: str) -> Projection:
        return type(self)(table, name=name)

    # Helpers for handlers.

    @property
    def objects(self) -> QuerySet[Any]:
        return self.table_model._default_manager.using(events_settings.DATABASE).all()

    def upsert(self, pk: Any, **fields: Any) -> None:
        """Insert the row or update its fields (INSERT ... ON CONFLICT), plain values only.

        Under the consumer the statement is batched with the other upserts of the batch: it reaches the database
        before any other SQL on the connection and before the batch commits, so handlers never see it missing,
        but a database error it causes is raised there rather than here.
        """
        pending = _pending.get()
        if pending is not None and pending.using == events_settings.DATABASE and not _has_expressions(fields):
            pending.upsert(self.table_model, pk, fields)
            return
        # bulk_create, unlike insert_rows, takes expressions such as Now() as values.
        self.table_model._default_manager.using(events_settings.DATABASE).bulk_create(
            [self.table_model(pk=pk, **fields)],
            update_conflicts=bool(fields),
            ignore_conflicts=not fields,
            unique_fields=[self.table_model._meta.pk.name],
            update_fields=list(fields) or None,
        )

    def add(self, pk: Any, **deltas: int) -> None:
        """Add to counters of one row, inserting it with the deltas as values when missing (other fields get
        their defaults): a tally that a batch of events moves as one statement, not one update per event.

        Batched under the consumer like ``upsert`` (the deltas of a batch to one row are summed first).
        """
        pending = _pending.get()
        if pending is not None and pending.using == events_settings.DATABASE:
            pending.add(self.table_model, pk, deltas)
            return
        _add_to_rows(self.table_model, {self.table_model._meta.pk.to_python(pk): deltas}, using=events_settings.DATABASE)

    def update(self, pk: Any, **fields: Any) -> int:
        """Update fields (values or F() expressions) of one row; returns 0 when the row is missing."""
        return self.objects.filter(pk=pk).update(**fields)

    def delete(self, pk: Any) -> None:
        self.objects.filter(pk=pk).delete()


_handled: dict[type[Projection], dict[str, str]] = {}


def _handled_types(cls: type[Projection]) -> dict[str, str]:
    # dir() walks the class hierarchy: far too slow to repeat for every event.
    if cls not in _handled:
        _handled[cls] = {type_of_method(attr): attr for attr in dir(cls) if attr.startswith(_METHOD_PREFIX)}
    return _handled[cls]


_PLAIN = (str, int, float, bool, type(None))


def _has_expressions(fields: dict[str, Any]) -> bool:
    return any(not isinstance(value, _PLAIN) and hasattr(value, "resolve_expression") for value in fields.values())


def projections() -> list[Projection]:
    return [s for s in registry.subscribers.values() if isinstance(s, Projection)]


def find_projection(name: str) -> Projection:
    for projection in projections():
        if name in (projection.name, f"{type(projection).__module__}.{type(projection).__qualname__}"):
            return projection
    known = ", ".join(sorted(p.name for p in projections())) or "none"
    raise LookupError(f"no projection named {name!r} (known: {known})")


def create_table(model: type[Model], using: str) -> bool:
    connection = connections[using]
    if model._meta.db_table in connection.introspection.table_names():
        return False
    with connection.schema_editor() as editor:
        editor.create_model(model)
    return True


def ensure_projection_tables(using: str | None = None) -> list[str]:
    """Create the table of every registered read model that lacks one (called after ``migrate``)."""
    using = using or events_settings.DATABASE
    return [p.table for p in projections() if create_table(p.table_model, using)]
