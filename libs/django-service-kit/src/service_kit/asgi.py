"""The ASGI application a service's ``config/asgi.py`` exposes: Django's WSGI handler on a fixed thread pool.

Every view, middleware and database call of the services is synchronous. Under Django's ASGI handler each request
then runs in a thread made for it, with a database connection opened for it, and every middleware hops between
the event loop and that thread. Here the handler runs on a fixed pool of threads instead, so pooled database
connections are reused, and each request crosses between the loop and its thread once each way: the loop reads
the body, a thread runs Django and returns the whole response, the loop sends it. A bridge that blocks the thread
on the loop for each read of the body and each part of the response (a2wsgi's) pays a round trip between
threads for each, on every request. The services answer small JSON bodies, so a response is buffered, never
streamed. uvicorn still serves HTTP.

The pool's queue is bounded too (``WEB_BACKLOG``): past the threads and that many waiting, a request is answered
503 at once with ``Retry-After``, so that a burst beyond what the process can serve is refused in microseconds
instead of queuing until the gateway's read timeout, and the process serves what it admitted at full speed. A
count alone does not bound the wait, though: the same queue drains slower on a busier machine. So a request that
waited for a thread longer than ``WEB_QUEUE_SECONDS`` is refused by the thread that picks it up, before any of its
work: under a sustained overload the admitted requests wait at most that long, whatever the process's speed. The
probes and /metrics are always admitted: an overloaded process is busy, not dead, and must not be restarted for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import json
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from a2wsgi.asgi_typing import Receive, Scope, Send
from a2wsgi.wsgi import build_environ
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from prometheus_client import Counter

from .settings import env

__all__ = ["WEB_BACKLOG", "WEB_QUEUE_SECONDS", "WEB_THREADS", "ThreadedWSGI", "get_threaded_application"]

# Requests one web process serves at once; the database pool (``database_from_env``) holds as many connections.
WEB_THREADS = int(env("WEB_THREADS", "8") or 8)
# Requests admitted to wait for a thread. A waiting request is answered within a few of the threads' request
# times; one refused is retried by the client (or by the gateway on another replica) at once.
WEB_BACKLOG = int(env("WEB_BACKLOG") or 4 * WEB_THREADS)
# The longest a request may wait for a thread and still be served (seconds): the latency an overload adds to the
# requests the process accepts, on top of their own running time.
WEB_QUEUE_SECONDS = float(env("WEB_QUEUE_SECONDS") or 0.1)
# Paths never refused: the kubelet's probes and Prometheus' scrape (service_kit.urls).
ALWAYS_ADMITTED = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1

REFUSED = Counter("http_requests_refused", "HTTP requests refused at once, the web process being full", ["service"])

Headers = list[tuple[bytes, bytes]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ThreadedWSGI:
    """An ASGI application running a WSGI application on ``workers`` threads, one hand-off per request."""

    def __init__(self, app: WSGIApp, *, workers: int, backlog: int, queue_seconds: float = WEB_QUEUE_SECONDS) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wsgi")
        self.capacity = workers + backlog
        self.queue_seconds = queue_seconds
        # Counted on the event loop alone, so it needs no lock: requests running or waiting for a thread.
        self.admitted = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        body = await _body(scope, receive)  # a slow upload holds no thread, so it takes no place in the queue
        always = scope["path"] in ALWAYS_ADMITTED
        if self.admitted >= self.capacity and not always:
            await _send(send, *_refused())
            return
        environ: dict[str, Any] = dict(build_environ(scope, cast(Any, io.BytesIO(body))))
        context = contextvars.copy_context()  # what a request sets in its thread ends with the request
        deadline = math.inf if always else time.monotonic() + self.queue_seconds
        self.admitted += 1
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                self.executor, functools.partial(context.run, self._respond, environ, deadline)
            )
        finally:
            self.admitted -= 1
        await _send(send, *answer)

    def _respond(self, environ: dict[str, Any], deadline: float) -> tuple[int, Headers, bytes]:
        if time.monotonic() > deadline:
            return _refused()
        started: list[tuple[int, Headers]] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [(int(status.split(" ", 1)[0]),
                           [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers])]
            return chunks.append

        iterable = self.app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return started[0][0], started[0][1], b"".join(chunks)


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _refused() -> tuple[int, Headers, bytes]:
    refusal, refused = _refusal()
    refused.inc()
    return refusal


@functools.cache
def _refusal() -> tuple[tuple[int, Headers, bytes], Any]:
    """The 503 of a full process and its counter, made once Django is set up (the kit's modules read settings)."""
    from .conf import kit_settings
    from .errors import error_body

    body = error_body("overloaded", "The service is busy; try again in a moment.",
                      {"retry_after_seconds": RETRY_AFTER_SECONDS})
    headers = [(b"content-type", b"application/json"), (b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
    return (503, headers, json.dumps(body).encode()), REFUSED.labels(service=kit_settings.SERVICE or "unknown")


async def _body(scope: Scope, receive: Receive) -> bytes:
    """The request body, read on the loop, as much of it as Django will read: the Content-Length's worth. Without
    one, or with one over Django's limit (which Django then refuses from the header alone, a JSON 413), nothing is
    read, so a huge body is never held in memory."""
    headers = cast(list[tuple[bytes, bytes]], scope.get("headers", []))
    declared = next((value for name, value in headers if name == b"content-length"), b"")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if not declared.isdigit() or (limit is not None and int(declared) > limit):
        return b""
    parts: list[bytes] = []
    left = int(declared)
    while left > 0:
        message = await receive()
        parts.append(cast(bytes, message.get("body", b"")))
        left -= len(parts[-1])
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def get_threaded_application() -> ThreadedWSGI:
    # django-stubs types the handler's return as the response object, which is the iterable of bytes WSGI wants.
    return ThreadedWSGI(cast(WSGIApp, get_wsgi_application()), workers=WEB_THREADS, backlog=WEB_BACKLOG)
