from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import correlation

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class CorrelationIdMiddleware:
    """Takes the gateway's X-Request-ID as the correlation id of the events a request publishes."""

    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.META.get(self.header, "")
        with correlation(sent if _SANE_ID.match(sent) else None) as correlation_id:
            response = self.get_response(request)
        response.setdefault("X-Request-ID", correlation_id)
        return response
