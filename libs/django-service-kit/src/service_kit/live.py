"""Server-Sent Events of something that changes (a poll's results): read at a bounded rate, whoever watches.

A view answers ``event_stream(key, read, last_event_id=...)``. ``read`` (a selector, returning what the stream
sends as JSON) is called once on the request's thread, so that an unknown id is the view's usual JSON error; the
body is then an asynchronous iterator, which ``service_kit.asgi`` sends from the event loop without holding a
thread. Every watcher of one key in a process shares one **feed**: a task that calls ``read`` at most every
``LIVE["READ_EVERY_MS"]`` on a thread of its own and wakes its watchers only when the answer changed (and every
``HEARTBEAT_SECONDS``, for a comment that keeps proxies from closing an idle connection); it stops with its last
watcher. So a key costs at most one query per interval and process, however many watch it.

Each event's ``id`` is a digest of its data: equal results are the same version in every process, so a client
reconnecting with ``Last-Event-ID`` (to this process or another) is sent nothing until they change, and the current
results at once otherwise. A ``read`` raising ``ApplicationError`` (the thing is gone) ends its streams; any other
failure is logged and read again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections
from django.http import StreamingHttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from .conf import kit_settings
from .errors import ApplicationError

__all__ = ["EVENT_STREAM", "ErrorsAsJson", "Snapshot", "event_stream"]

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
Read = Callable[[], Any]
# One thread per process for every feed's reads: they queue rather than take more database connections.
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-read")
# Per event loop (one in a web process; a test may run several in turn): key -> its feed.
_FEEDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Feed]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Snapshot:
    version: str
    event: bytes  # the whole `id:` and `data:` event, encoded once for every watcher

    @classmethod
    def of(cls, value: Any) -> Snapshot:
        data = json.dumps(value, separators=(",", ":"), sort_keys=True)
        version = hashlib.blake2b(data.encode(), digest_size=8).hexdigest()
        return cls(version, f"id: {version}\ndata: {data}\n\n".encode())


class ErrorsAsJson(BaseContentNegotiation):
    """An event stream's view answers errors as JSON whatever the client accepts (EventSource asks for
    text/event-stream only): its stream is not rendered by DRF, its errors are (the platform's error shape)."""

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
                        ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, str(first.media_type)


@dataclass(eq=False)
class Feed:
    """One key's reads and the watchers they wake; lives on the event loop, so it needs no lock."""

    key: Hashable
    read: Read
    latest: Snapshot | None
    watchers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    wakes: int = 0  # how many times it woke its watchers

    def wake(self) -> None:
        self.wakes += 1
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()

    async def run(self, feeds: dict[Hashable, Feed]) -> None:
        settings = kit_settings.LIVE
        interval = settings["READ_EVERY_MS"] / 1000
        heartbeat_every = max(1, round(settings["HEARTBEAT_SECONDS"] / interval))
        loop = asyncio.get_running_loop()
        ticks = 0
        try:
            while self.watchers and self.latest is not None:
                await asyncio.sleep(interval)
                ticks += 1
                try:
                    fresh = await loop.run_in_executor(_READER, _read_as_a_request, self.read)
                except ApplicationError:
                    fresh = None  # gone: its watchers' streams end
                except Exception:
                    logger.exception("reading %s for its watchers failed; trying again", self.key)
                    fresh = self.latest
                if fresh != self.latest or ticks % heartbeat_every == 0:
                    self.latest = fresh
                    self.wake()
        finally:
            if feeds.get(self.key) is self:
                del feeds[self.key]
            self.latest = None
            self.wake()


def _read_as_a_request(read: Read) -> Snapshot:
    # As around a request: a broken or too old connection is replaced, and a pooled one goes back after the read.
    close_old_connections()
    try:
        return Snapshot.of(read())
    finally:
        close_old_connections()


def _feed_of(key: Hashable, read: Read, first: Snapshot) -> Feed:
    loop = asyncio.get_running_loop()
    feeds = _FEEDS.setdefault(loop, {})
    feed = feeds.get(key)
    if feed is None:
        feed = feeds[key] = Feed(key, read, first)
        # A context of its own: the feed outlives the request that started it (its trace, its request id).
        loop.create_task(feed.run(feeds), context=contextvars.Context())
    return feed


async def _events(key: Hashable, read: Read, first: Snapshot, last_event_id: str | None) -> AsyncIterator[bytes]:
    settings = kit_settings.LIVE
    yield f"retry: {int(settings['RETRY_MS'])}\n\n".encode()
    feed = _feed_of(key, read, first)
    feed.watchers += 1
    try:
        latest: Snapshot | None = first  # read by this request: no older than the feed's
        sent, seen, woken = last_event_id, feed.wakes, False
        while latest is not None:
            if latest.version != sent:
                sent = latest.version
                yield latest.event
            elif woken:
                yield b": heartbeat\n\n"
            if feed.wakes == seen:  # else the feed woke its watchers while this one was sending
                await feed.changed.wait()
            seen, latest, woken = feed.wakes, feed.latest, True
    finally:
        feed.watchers -= 1


def event_stream(key: Hashable, read: Read, *, last_event_id: str | None) -> StreamingHttpResponse:
    """The response of a view streaming what ``read()`` returns (JSON-serialisable) as it changes. ``key`` names
    what is read (watchers of one key share one feed); ``read`` raises the view's error when there is nothing
    to watch, first here on the request's thread, so the client gets that error instead of a stream."""
    first = Snapshot.of(read())
    response = StreamingHttpResponse(_events(key, read, first, last_event_id), content_type=EVENT_STREAM)
    response["Cache-Control"] = "no-store"
    # nginx sends it on as it comes, whatever the location says (the gateway's stream routes say so too).
    response["X-Accel-Buffering"] = "no"
    return response
