"""A test client for an answer read as it comes (an event stream), driving an ASGI application as uvicorn does:
what Django's test clients cannot do, since they wait for the whole body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]
# A stream's next event arrives within the feed's interval; a test waits far longer before it calls it missing.
PATIENCE_SECONDS = 30


class StreamedAnswer:
    """The answer to one request: ``status`` and ``headers`` at once, then ``next_event()`` per event (its fields,
    a comment under ``comment``), ``json()`` for a whole JSON body; ``close()`` is the client going away."""

    def __init__(self, app: ASGIApp, path: str, headers: dict[str, str]) -> None:
        self._sent: asyncio.Queue[Message] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "http_version": "1.1", "scheme": "http", "server": ("testserver", 80),
                 "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"testserver"),
                             *((name.lower().encode(), value.encode()) for name, value in headers.items())]}
        self._task = asyncio.ensure_future(app(scope, self._receive, self._send))
        self._requested = False

    async def _receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        await self._sent.put(message)

    async def _next(self) -> Message:
        return await asyncio.wait_for(self._sent.get(), PATIENCE_SECONDS)

    async def start(self) -> StreamedAnswer:
        start = await self._next()
        self.status = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
        return self

    async def _more(self) -> bool:
        message = await self._next()
        self._buffer += message.get("body", b"")
        return bool(message.get("more_body", False))

    async def json(self) -> Any:
        while await self._more():
            pass
        return json.loads(self._buffer)

    async def next_event(self) -> dict[str, str]:
        while b"\n\n" not in self._buffer:
            if not await self._more() and b"\n\n" not in self._buffer:
                raise EOFError("the stream ended")
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.decode().splitlines():
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        return fields

    async def next_data_event(self) -> dict[str, str]:
        """The next event carrying data, past the `retry:` and the heartbeats."""
        while "data" not in (event := await self.next_event()):
            pass
        return event

    async def close(self) -> None:
        self._gone.set()
        await asyncio.wait_for(self._task, PATIENCE_SECONDS)


async def open_stream(app: ASGIApp, path: str, headers: dict[str, str] | None = None) -> StreamedAnswer:
    """A GET of ``path`` from ``app`` (``service_kit.asgi.get_threaded_application()``), once its head arrived."""
    return await StreamedAnswer(app, path, headers or {}).start()
