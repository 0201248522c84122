"""Test helpers: see what a unit test published, and hand events to this service's subscribers in-process."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connections, transaction
from django.db.models import Max

from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event
from .models import OutboxEvent

T = TypeVar("T")


@contextmanager
def captured_events(using: str | None = None) -> Iterator[list[Event]]:
    """Yields a list that holds, once the block ends, the events published inside it and not rolled back."""
    using = using or events_settings.DATABASE
    outbox = OutboxEvent.objects.using(using)
    start = outbox.aggregate(last=Max("seq"))["last"] or 0
    events: list[Event] = []
    yield events
    payloads = outbox.filter(seq__gt=start).order_by("seq").values_list("payload", flat=True)
    events.extend(Event.from_json(payload) for payload in payloads)


def make_event(type: str, data: dict[str, Any], *, key: str | None = None, version: int = 1, **fields: Any) -> Event:
    """An event as another service would have published it; ``key`` defaults to the aggregate's id field."""
    aggregate_id = data.get(f"{type.split('.', 1)[0]}_id", "")
    return Event(type=type, key=str(key if key is not None else aggregate_id), data=data, version=version, **fields)


def deliver(*events: Event, using: str | None = None) -> int:
    """Apply ``events`` to this service's handlers and projections through the consumer's exactly-once path.

    Returns how many (event, subscriber) pairs took effect; a repeated event counts 0. Errors propagate,
    including ``UnsupportedVersion`` for a version no subscriber accepts.
    """
    using = using or events_settings.DATABASE
    with transaction.atomic(using=using):
        return apply_events(list(events), using=using)


def unique_topic_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}."


@contextmanager
def noticing_reads_of(table: str, using: str | None = None) -> Iterator[threading.Event]:
    """An Event set once this thread's connection has run a query naming ``table``: a test can then write the
    row a request is waiting for (``wait_for_read_model``) knowing that the request's first look missed it."""
    noticed = threading.Event()

    def notice(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        if table in sql:
            noticed.set()
        return result

    with connections[using or events_settings.DATABASE].execute_wrapper(notice):
        yield noticed


def after_first_read_of(table: str, call: Callable[[], T], *, timeout: float = 120.0) -> Callable[[], T]:
    """Starts ``call`` in a thread of its own (with its own database connection) and returns once that thread
    has read ``table``; the function returned waits for the call's end and gives its result or raises its error.

    A test writes the row the call is waiting for in between, as a consumer would a moment after the request.
    """
    looked: queue.Queue[threading.Event] = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with noticing_reads_of(table) as noticed:
                looked.put(noticed)
                outcome["result"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test by finish()
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not looked.get(timeout=timeout).wait(timeout):
        raise TimeoutError(f"the call never read {table}")

    def finish() -> T:
        thread.join(timeout)
        if "error" in outcome:
            raise outcome["error"]
        result: T = outcome["result"]
        return result

    return finish
