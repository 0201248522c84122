"""Liveness, readiness and metrics: plain Django views, outside authentication and throttling."""

from __future__ import annotations

from typing import Any

from django.apps import apps
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
    """django-events' readiness (database and broker) when the service uses it, else the database alone."""
    if not apps.is_installed("django_events"):
        return _database_ready()
    try:
        from django_events.health import readiness as events_readiness
    except ImportError:
        return _database_ready()
    return events_readiness()


def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = readiness()
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
