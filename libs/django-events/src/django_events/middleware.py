from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from .context import correlation

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class CorrelationIdMiddleware:
    """Takes the gateway's X-Request-ID as the correlation id of the events a request publishes.

    Sync and async alike: under ASGI with async views it stays on the event loop rather than making Django run
    the rest of the chain on a thread of its own for every request.
    """

    header = "HTTP_X_REQUEST_ID"
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        with correlation(self._sent(request)) as correlation_id:
            response: HttpResponse = self.get_response(request)
        response.setdefault("X-Request-ID", correlation_id)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with correlation(self._sent(request)) as correlation_id:
            response: HttpResponse = await self.get_response(request)
        response.setdefault("X-Request-ID", correlation_id)
        return response

    def _sent(self, request: HttpRequest) -> str | None:
        sent = request.META.get(self.header, "")
        return sent if _SANE_ID.match(sent) else None
