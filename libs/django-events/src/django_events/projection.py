"""CQRS read models fed by events, with tables the library owns so it can rebuild them."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from django.apps.registry import Apps
from django.db import connections, models
from django.db.models import F, Model, QuerySet

from .conf import events_settings
from .contracts import Payload, payload_readers
from .envelope import Event
from .registry import Routes, UnsupportedVersion, call_route, declared_sources, declared_types, registry, routes_of
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
    """Inside the block, ``Projection.upsert`` and ``add`` writes are batched (see ``PendingUpserts``); call in a
    transaction. The consumer and a rebuild apply every batch inside one.

    Why a connection execute wrapper rather than an explicit flush: a handler may read what an earlier event of
    the batch wrote through any path, its own queries, Django's, or a service function it calls (vote-service's
    ``votes_void_after_close``), and only the connection sees every statement. Flushing around each event
    instead would keep that guarantee but turn a batch's multi-row statements back into one per event.
    """
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
    """``on_poll_created`` handles ``poll.created``; the first underscore after the prefix is the dot
    (the deprecated method-name form)."""
    return name[len(_METHOD_PREFIX) :].replace("_", ".", 1)


class Projection:
    """Base class of a read model kept up to date by events::

        class PollProjection(django_events.Projection):
            model = PollView                      # Meta.managed = False: the library owns the table

            @django_events.handles("poll.created")
            def on_poll_created(self, poll: PollCreated) -> None:
                self.upsert(poll.poll_id, question=poll.question)

    and, in the app's ``AppConfig.ready()``, ``django_events.subscribe(PollProjection)``. Each ``@handles``
    method says which event type it handles; its versions are those of the payloads its parameter is annotated
    with (or ``handles(..., versions=...)``), and any other version is dead-lettered with a clear reason.
    ``self.rebuilding`` is true while ``events_rebuild`` replays into a fresh table: side effects beyond the read
    model (calling a service, publishing) belong behind ``if not self.rebuilding``.

    Deprecated, until django-events 1.0: an undecorated ``on_<aggregate>_<action>`` method handles
    ``<aggregate>.<action>`` (versions from ``versions`` or its payload, else 1), and a class with only such
    methods registers itself when it is created; both warn.
    """

    model: ClassVar[type[Model]]
    versions: ClassVar[dict[str, set[int]]] = {}
    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        declared, by_name = _methods(cls)
        if by_name:
            method = by_name[0]
            warnings.warn(
                f"{cls.__name__}.{method}: an event type taken from a method name is deprecated and goes in "
                f"django-events 1.0; decorate it with @django_events.handles({type_of_method(method)!r}) and "
                "register the projection with django_events.subscribe() in your AppConfig.ready()",
                DeprecationWarning,
                stacklevel=2,
            )
        if getattr(cls, "model", None) is not None and by_name and not declared:
            registry.add(cls())

    def __init__(self, table: str | None = None, *, name: str | None = None, rebuilding: bool = False) -> None:
        self.table = table or self.model._meta.db_table
        if name:
            self.name = name  # type: ignore[misc]
        self.rebuilding = rebuilding
        self.table_model = model_for_table(self.model, self.table)

    def routes(self) -> Routes:
        """Event type -> version -> the payload it is read as (None: the raw Event)."""
        return _class_routes(type(self))[0]

    def event_types(self) -> set[str]:
        return set(self.routes())

    def sources(self) -> Mapping[str, frozenset[str]]:
        """Event type -> the only sources its method applies (``@handles(..., sources=...)``)."""
        return _class_sources(type(self))

    def apply(self, event: Event) -> None:
        routes, methods = _class_routes(type(self))
        if event.type not in methods:
            raise UnsupportedVersion(f"{self.name} does not handle {event.type}")
        call_route(getattr(self, methods[event.type]), routes, event)

    def bound_to(self, table: str, *, name: str) -> Projection:
        """The same projection writing to ``table`` under another inbox name: a rebuild's, so ``rebuilding``."""
        return type(self)(table, name=name, rebuilding=True)

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


_routes: dict[type[Projection], tuple[Routes, dict[str, str]]] = {}


def _methods(cls: type[Projection]) -> tuple[list[str], list[str]]:
    """The names of the methods declared with ``@handles`` and of the deprecated undecorated ``on_`` ones."""
    declared, by_name = [], []
    for attr in dir(cls):
        member = inspect.getattr_static(cls, attr, None)
        if not inspect.isfunction(member):
            continue
        if declared_types(member):
            declared.append(attr)
        elif attr.startswith(_METHOD_PREFIX):
            by_name.append(attr)
    return declared, by_name


def _class_routes(cls: type[Projection]) -> tuple[Routes, dict[str, str]]:
    """The routes of a projection class and, per event type, its method's name; computed once per class (dir()
    walks the class hierarchy: far too slow to repeat for every event)."""
    if cls not in _routes:
        routes: Routes = {}
        methods: dict[str, str] = {}
        declared, by_name = _methods(cls)
        for attr in declared + by_name:
            function = getattr(cls, attr)
            found = routes_of(function, declared_types(function)) if attr in declared else _by_name(cls, attr)
            for event_type, by_version in found.items():
                if event_type in methods:
                    raise TypeError(f"{cls.__name__}: {methods[event_type]} and {attr} both handle {event_type}")
                routes[event_type], methods[event_type] = by_version, attr
        _routes[cls] = (routes, methods)
    return _routes[cls]


_sources: dict[type[Projection], dict[str, frozenset[str]]] = {}


def _class_sources(cls: type[Projection]) -> dict[str, frozenset[str]]:
    if cls not in _sources:
        methods = _class_routes(cls)[1]
        _sources[cls] = {
            event_type: only
            for event_type, attr in methods.items()
            if (only := declared_sources(getattr(cls, attr)).get(event_type)) is not None
        }
    return _sources[cls]


def handling_method(cls: type[Projection], event_type: str) -> Any:
    """The function of ``cls`` that handles ``event_type``."""
    return getattr(cls, _class_routes(cls)[1][event_type])


def _by_name(cls: type[Projection], attr: str) -> Routes:
    event_type = type_of_method(attr)
    readers = payload_readers(getattr(cls, attr))
    if readers:
        typed: dict[int, type[Payload] | None] = dict(readers.items())
        return {event_type: typed}
    return {event_type: dict.fromkeys(sorted(cls.versions.get(event_type, {1})))}


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
