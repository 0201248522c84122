"""Liveness, readiness and metrics: plain Django views, outside authentication and throttling."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; nothing else is checked, so a database outage does not restart every pod."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> tuple[bool, dict[str, str]]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, {"database": "ok"}
    except Exception as error:
        return False, {"database": f"{type(error).__name__}: {error}"}


def readiness() -> tuple[bool, dict[str, Any]]:
    """The database alone, never the broker: a write lands in the outbox while the broker is away, and the relay
    delivers it later, so a web process that can reach its database serves. The relay and the consumer are the
    processes that need the broker, and report it."""
    return _database_ready()


def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = readiness()
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
