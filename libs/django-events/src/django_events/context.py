"""The correlation id that follows a request or an event across services."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "django_events_correlation_id", default=None
)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Events published inside the block carry ``correlation_id`` (a new one when None)."""
    token = _correlation_id.set(correlation_id or str(uuid.uuid4()))
    try:
        yield _correlation_id.get()  # type: ignore[misc]
    finally:
        _correlation_id.reset(token)
