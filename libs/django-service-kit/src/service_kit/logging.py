"""JSON log lines carrying the service, the request's correlation id and the current trace and span ids."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from .tracing import current_ids

try:
    from django_events import current_correlation_id
except ImportError:  # the kit works without django-events; lines then carry no request id
    def current_correlation_id() -> str | None:
        return None


class RequestIdFilter(logging.Filter):
    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = current_correlation_id()
        # Taken here, in the thread that logs, where the span is current (a handler may write elsewhere later).
        record.trace_id, record.span_id = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", None),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
