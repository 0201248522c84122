"""The psycopg instrumentation, for the queries of a span being recorded only.

Imported only when tracing is on (``service_kit.tracing``): it needs the ``[tracing]`` extra.
"""

from __future__ import annotations

from typing import Any

import psycopg
from opentelemetry.instrumentation import dbapi
from opentelemetry.instrumentation import psycopg as contrib
from opentelemetry.trace import get_current_span


class Instrumentor(contrib.PsycopgInstrumentor):
    """The contrib instrumentor, whose cursors run a query outside any span being recorded (a request not sampled,
    a relay's outbox poll) as the cursor they wrap would: the contrib cursor wraps every ``execute`` in the
    instrumentation's work (the statement's operation parsed for a span name, a span started, metrics' checks)
    before it can find that its span records nothing. Only ``_instrument`` differs: it hands ``wrap_connect`` the
    integration below instead of the contrib's (psycopg's ``connect`` and ``Connection.connect``; an
    ``AsyncConnection`` keeps the contrib's)."""

    def _instrument(self, **kwargs: Any) -> None:
        options = {
            "version": contrib.__version__,
            "tracer_provider": kwargs.get("tracer_provider"),
            "enable_commenter": kwargs.get("enable_commenter", False),
            "commenter_options": kwargs.get("commenter_options", {}),
            "enable_attribute_commenter": kwargs.get("enable_attribute_commenter", False),
            "capture_parameters": kwargs.get("capture_parameters", False),
        }
        owners: tuple[tuple[Any, type[Any]], ...] = ((psycopg, RecordedQueriesOnly), (psycopg.Connection, RecordedQueriesOnly),
                                                    (psycopg.AsyncConnection, contrib.DatabaseApiAsyncIntegration))
        for owner, integration in owners:
            dbapi.wrap_connect(contrib.__name__, owner, "connect", self._DATABASE_SYSTEM, self._CONNECTION_ATTRIBUTES,
                               db_api_integration_factory=integration, **options)


class RecordedQueriesOnly(contrib.DatabaseApiIntegration):
    def wrapped_connection(self, connect_method: Any, args: Any, kwargs: Any) -> Any:
        connection = super().wrapped_connection(connect_method, args, kwargs)
        connection.cursor_factory = _recorded_only(connection.cursor_factory)
        return connection


def _recorded_only(traced: type[Any]) -> type[Any]:
    """``traced`` (the contrib's cursor class, a subclass of the one it wraps) tracing only under a recorded span:
    otherwise its parent's ``execute``, the wrapped cursor's own."""

    class RecordedOnly(traced):  # type: ignore[misc]
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            if get_current_span().is_recording():
                return super().execute(*args, **kwargs)
            return super(traced, self).execute(*args, **kwargs)

        def executemany(self, *args: Any, **kwargs: Any) -> Any:
            if get_current_span().is_recording():
                return super().executemany(*args, **kwargs)
            return super(traced, self).executemany(*args, **kwargs)

    return RecordedOnly
