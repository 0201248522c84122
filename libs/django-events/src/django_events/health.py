"""Readiness of the database and the broker, and the HTTP endpoint of relay and consumer processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.db import connections
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .conf import events_settings
from .transport import get_transport


def database_ready() -> tuple[bool, str]:
    try:
        with connections[events_settings.DATABASE].cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"


def broker_ready(timeout: float = 2.0) -> tuple[bool, str]:
    try:
        return get_transport().ready(timeout)
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"


def readiness(timeout: float = 2.0) -> tuple[bool, dict[str, str]]:
    """Whether this service can reach its database and its broker; the details say what failed."""
    db_ok, db_detail = database_ready()
    broker_ok, broker_detail = broker_ready(timeout)
    return db_ok and broker_ok, {"database": db_detail, "broker": broker_detail}


def serve_worker_health(
    port: int, is_healthy: Callable[[], bool], is_ready: Callable[[], bool] = lambda: True
) -> ThreadingHTTPServer:
    """Serve ``/metrics``, ``/healthz`` (503 once the worker loop stalls) and ``/readyz`` (503 until the worker is
    ready: a consumer holds its share of its topics) on ``port`` in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/metrics":
                self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                healthy = is_healthy()
                body = b'{"status":"ok"}' if healthy else b'{"status":"stalled"}'
                self._reply(200 if healthy else 503, body, "application/json")
            elif self.path == "/readyz":
                ready = is_ready()
                body = b'{"status":"ready"}' if ready else b'{"status":"not_ready"}'
                self._reply(200 if ready else 503, body, "application/json")
            else:
                self._reply(404, b'{"error":"not_found"}', "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, name="django-events-health", daemon=True).start()
    return server


def keep_ready_file(path: Path, is_ready: Callable[[], bool], stop: threading.Event, interval: float = 0.2) -> None:
    """Keeps ``path`` present while ``is_ready()`` and absent otherwise, in a thread, until ``stop`` is set: for
    an exec readiness probe (``test -f``) or a process supervisor waiting for its workers."""
    path.unlink(missing_ok=True)  # left by a predecessor that was killed: it says nothing of this process

    def watch() -> None:
        while not stop.wait(interval):
            if is_ready():
                if not path.exists():
                    path.touch()
            else:
                path.unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    threading.Thread(target=watch, name="django-events-ready-file", daemon=True).start()
