"""The ASGI application a service's ``config/asgi.py`` exposes: Django's WSGI handler on a fixed thread pool.

Every view, middleware and database call of the services is synchronous. Under Django's ASGI handler each request
then runs in a thread made for it, with a database connection opened for it, and every middleware hops between
the event loop and that thread. Here the handler runs on a fixed pool of threads instead, so pooled database
connections are reused, and each request crosses between the loop and its thread once each way: the loop reads
the body, a thread runs Django and returns the whole response, the loop sends it. A bridge that blocks the thread
on the loop for each read of the body and each part of the response (a2wsgi's) pays a round trip between
threads for each, on every request. The services answer small JSON bodies, so a response is buffered. uvicorn
still serves HTTP.

The one exception is a ``StreamingHttpResponse`` of an asynchronous iterator (Django's way to stream under ASGI;
``service_kit.live``'s event streams): its view runs on a thread like any other, the request then ends for Django
(``request_finished``: its database connection goes back), and the loop sends the body as the iterator yields it,
holding no thread, until the iterator ends or the client goes. A process holds at most ``WEB_STREAMS`` of them;
one more is answered the same 503 as a full process. When the server is told to stop (SIGTERM, SIGINT), every
stream ends at once, cleanly: uvicorn would otherwise wait for them, which never end by themselves, and their
clients reconnect to another process.

The pool's queue is bounded too (``WEB_BACKLOG``): past the threads and that many waiting, a request is answered
503 at once with ``Retry-After``, so that a burst beyond what the process can serve is refused in microseconds
instead of queuing until the gateway's read timeout, and the process serves what it admitted at full speed. A
count alone does not bound the wait, though: the same queue drains slower on a busier machine. So a request that
waited for a thread longer than ``WEB_QUEUE_SECONDS`` (when set) is refused by the thread that picks it up, before
any of its work: under a sustained overload the admitted requests wait at most that long, whatever the process's
speed. The probes and /metrics are always admitted: an overloaded process is busy, not dead, and must not be
restarted for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import json
import math
import resource
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from a2wsgi.asgi_typing import Receive, Scope, Send
from a2wsgi.wsgi import build_environ
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import StreamingHttpResponse
from prometheus_client import Counter, Gauge

from .settings import env

__all__ = ["WEB_BACKLOG", "WEB_QUEUE_SECONDS", "WEB_STREAMS", "WEB_THREADS", "ThreadedWSGI", "get_threaded_application"]

# Requests one web process serves at once; the database pool (``database_from_env``) holds as many connections.
WEB_THREADS = int(env("WEB_THREADS", "8") or 8)
# Requests admitted to wait for a thread. A waiting request is answered within a few of the threads' request
# times; one refused is retried by the client (or by the gateway on another replica) at once.
WEB_BACKLOG = int(env("WEB_BACKLOG") or 4 * WEB_THREADS)
# Streams one web process holds at once (an event stream's watchers). Each is a socket and a few kilobytes on
# the loop, no thread; the process's open-file limit is raised to fit them (get_threaded_application).
WEB_STREAMS = int(env("WEB_STREAMS", "2500") or 2500)
# The longest a request may wait for a thread and still be served (seconds): the latency an overload adds to the
# requests the process accepts, on top of their own running time. Unset or 0: no bound but WEB_BACKLOG's.
WEB_QUEUE_SECONDS = float(env("WEB_QUEUE_SECONDS") or 0) or math.inf
# Paths never refused: the kubelet's probes and Prometheus' scrape (service_kit.urls).
ALWAYS_ADMITTED = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1

REFUSED = Counter("http_requests_refused", "HTTP requests refused at once, the web process being full", ["service"])
STREAMS = Gauge("http_streams", "Streamed answers (event streams) this web process is sending", ["service"])

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes | AsyncIterator[bytes]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ThreadedWSGI:
    """An ASGI application running a WSGI application on ``workers`` threads, one hand-off per request."""

    def __init__(self, app: WSGIApp, *, workers: int, backlog: int, streams: int = WEB_STREAMS,
                 queue_seconds: float = WEB_QUEUE_SECONDS) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wsgi")
        self.capacity = workers + backlog
        self.stream_capacity = streams
        self.queue_seconds = queue_seconds
        # Counted on the event loop alone, so they need no lock: requests running or waiting for a thread, and
        # streaming responses being sent.
        self.admitted = 0
        self.streaming = 0
        self.stopping: asyncio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._stop_streams_on_exit()
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
        status, headers, content = answer
        if isinstance(content, bytes):
            await _send(send, status, headers, content)
        else:
            await self._stream(receive, send, status, headers, content)

    async def _stream(self, receive: Receive, send: Send, status: int, headers: Headers,
                      content: AsyncIterator[bytes]) -> None:
        """Sends the body as it comes, until it ends or the client disconnects, which stops the iterator where it
        waits (its ``finally`` runs: a watcher leaves its feed)."""
        if self.streaming >= self.stream_capacity:
            await cast(Any, content).aclose()  # never started: it holds nothing yet
            await _send(send, *_refused())
            return
        self.streaming += 1
        held = _streams_gauge()
        held.inc()
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            sending = asyncio.ensure_future(_send_all(send, content))
            gone = asyncio.ensure_future(_disconnected(receive))
            stopping = asyncio.ensure_future(self.stopping.wait() if self.stopping else asyncio.Event().wait())
            await asyncio.wait({sending, gone, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sending, gone, stopping):
                task.cancel()
            await asyncio.gather(sending, gone, stopping, return_exceptions=True)
            if sending.done() and not sending.cancelled() and sending.exception() is not None:
                raise cast(BaseException, sending.exception())
            if stopping.done() and not stopping.cancelled():
                await send({"type": "http.response.body", "body": b""})
        finally:
            self.streaming -= 1
            held.dec()
            await cast(Any, content).aclose()

    def _stop_streams_on_exit(self) -> None:
        """Chains onto the server's own handlers of the signals that stop it (uvicorn's, set before the lifespan
        starts), so that the streams end when it is told to stop."""
        if self.stopping is not None or threading.current_thread() is not threading.main_thread():
            return
        stopping = self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(number)
            if not callable(previous):
                continue

            def chained(signum: int, frame: Any, previous: Callable[[int, Any], Any] = previous) -> None:
                previous(signum, frame)
                loop.call_soon_threadsafe(stopping.set)

            signal.signal(number, chained)

    def _respond(self, environ: dict[str, Any], deadline: float) -> Answer:
        if time.monotonic() > deadline:
            return _refused()
        started: list[tuple[int, Headers]] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [(int(status.split(" ", 1)[0]),
                           [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers])]
            return chunks.append

        iterable = self.app(environ, start_response)
        if isinstance(iterable, StreamingHttpResponse) and iterable.is_async:
            content = cast(AsyncIterator[bytes], iterable.streaming_content)
            # Closing ends the request for Django here, on its thread (request_finished: the thread's database
            # connection goes back); an async iterator has no close() of its own, so it is left running.
            iterable.close()
            return started[0][0], started[0][1], content
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return started[0][0], started[0][1], b"".join(chunks)


async def _send_all(send: Send, content: AsyncIterator[bytes]) -> None:
    async for chunk in content:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _refused() -> tuple[int, Headers, bytes]:
    refusal, refused = _refusal()
    refused.inc()
    return refusal


@functools.cache
def _streams_gauge() -> Any:
    from .conf import kit_settings

    return STREAMS.labels(service=kit_settings.SERVICE or "unknown")


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


def open_files_for(streams: int) -> None:
    """Raises the process's soft limit of open files (often 1,024) towards its hard limit, so that ``streams``
    sockets fit beside the rest: a limit reached makes every accept fail, not only the streams'."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = streams + 1_024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


def get_threaded_application() -> ThreadedWSGI:
    open_files_for(WEB_STREAMS)
    # django-stubs types the handler's return as the response object, which is the iterable of bytes WSGI wants.
    return ThreadedWSGI(cast(WSGIApp, get_wsgi_application()), workers=WEB_THREADS, backlog=WEB_BACKLOG)
