"""Stand-ins for the services: one ASGI echo app on several ports, run by uvicorn in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from urllib.parse import parse_qs

import uvicorn

# Streams (hold=<name>) waiting for a request with release=<name>, and those whose client was seen going: shared
# with the tests, which run in the process the stubs' thread serves in.
RELEASED: set[str] = set()
GONE: set[str] = set()


async def echo(scope, receive, send) -> None:
    """Answers with what it received. Query knobs: sleep=<s> answers late, status=<n> answers with that status,
    chunks=<n> streams the answer in n pieces, public=<s> marks it cacheable by anyone for s seconds; hold=<name>
    answers an event stream's first event, then its second once a request says release=<name>, unless its client
    goes first (then GONE holds the name)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
    if "hold" in query:
        return await _held_stream(query["hold"], receive, send)
    RELEASED.update(query.get("release", "").split())
    await asyncio.sleep(float(query.get("sleep", 0)))
    answer = json.dumps({
        "port": scope["server"][1],
        "method": scope["method"],
        "target": scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"] else ""),
        "headers": {key.decode(): value.decode() for key, value in scope["headers"]},
        "body_bytes": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }).encode()
    headers = [
        (b"content-type", b"application/json"),
        # A service's own values of headers the gateway owns: the gateway must replace them.
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"x-request-id", b"set-by-the-service"),
    ]
    if "public" in query:
        headers.append((b"cache-control", f"public, max-age={int(query['public'])}".encode()))
    pieces = int(query.get("chunks", 0))
    if not pieces:
        # Sized, as the services' JSON answers are; chunks=N streams it without a length instead.
        headers.append((b"content-length", str(len(answer)).encode()))
    await send({"type": "http.response.start", "status": int(query.get("status", 200)), "headers": headers})
    size = -(-len(answer) // max(pieces, 1))
    for start in range(0, len(answer), size):
        await send({"type": "http.response.body", "body": answer[start:start + size], "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _held_stream(name: str, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
    gone = asyncio.ensure_future(receive())  # the request has no body: the next message is the client going
    while name not in RELEASED:
        if gone.done():
            GONE.add(name)
            return
        await asyncio.sleep(0.01)
    gone.cancel()
    await send({"type": "http.response.body", "body": b"data: second\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def listening_socket() -> socket.socket:
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # keep-alive answer waits out the client's delayed ACK (~40 ms), which would defeat the rate-limit tests.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with listening_socket() as sock:
        return sock.getsockname()[1]


class EchoServers:
    """The echo app listening on `count` loopback ports, each standing for one service."""

    def __init__(self, count: int) -> None:
        self.sockets = [listening_socket() for _ in range(count)]
        self.ports = [sock.getsockname()[1] for sock in self.sockets]
        config = uvicorn.Config(echo, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self.sockets}, daemon=True)

    def __enter__(self) -> EchoServers:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the echo upstream did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()
