"""The development gateway: an ASGI reverse proxy applying the routing table and the edge policy.

Production runs nginx from the same table (`gateway.nginx`); the test suite holds both to the same answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway import edge
from gateway.ratelimit import InFlight, LeakyBucket
from gateway.table import Route, Table

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

ACCESS_LOG = logging.getLogger("gateway.access")
HOP_BY_HOP = {
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade",
}
OWNED = {name.lower().encode() for name in edge.OWNED_RESPONSE_HEADERS}
# Written by the gateway from what it saw, or dropped: never passed on as the client wrote them.
FORWARDING = {b"x-real-ip", b"x-forwarded-for", b"x-forwarded-proto",
              *(name.lower().encode() for name in edge.CLIENT_FORWARDING_HEADERS)}


# Written by the gateway, whatever the client sent: the request id and the trace context (edge.trace_context).
REPLACED = {b"x-request-id", b"traceparent", b"tracestate"}

RETRY_AFTER = [(b"retry-after", str(edge.RETRY_AFTER_SECONDS).encode())]


class BodyTooLarge(Exception):
    pass


class ClientDisconnected(Exception):
    pass


@dataclass
class Exchange:
    """What the access log says about one request."""

    request_id: str
    # The trace context sent on (edge.trace_context): trace id, parent span id, flags.
    trace: tuple[str, str, str]
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    bytes_sent: int = 0
    upstream: str = ""


class Gateway:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.buckets = {rule.name: LeakyBucket(rule) for rule in table.rate_limits}
        self.in_flight = {rule.name: InFlight(rule) for rule in table.connection_limits}
        # Read once at start, as nginx's config is rendered once: the OTEL_TRACES_SAMPLER(_ARG) variables.
        self.sample_ratio = edge.sample_ratio()
        # Listed once: listing the folder on every request was an eighth of the proxy's CPU under a flood. A file
        # is still read at each request, so an edit shows at once; a new file needs a restart.
        self.pages = edge.web_files()
        self.timeout = httpx.Timeout(table.read_timeout, connect=table.connect_timeout)
        # The transport holds the connection pool. The client layer on top of it is left out on purpose: it
        # would add its own default headers and keep one cookie jar for every user behind the gateway.
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50), retries=0
        )
        # A stream holds its connection for as long as its client watches: none is taken from the pool above, and
        # none is kept once its stream ends.
        self.stream_transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0), retries=0
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            # Once per request, as nginx's realip phase: the limits, the upstream headers and the log all use it.
            scope["client_address"] = edge.client_address(
                _peer_address(scope), _forwarded_for(scope["headers"]), self.table.trusted_proxies
            )
            exchange = Exchange(
                request_id=_request_id(scope["headers"]),
                trace=edge.trace_context(_header(scope["headers"], b"traceparent"), self.sample_ratio),
            )
            try:
                await self._handle(scope, receive, _edge_send(send, exchange), exchange)
            finally:
                _log_access(scope, exchange)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.transport.aclose()
                await self.stream_transport.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        method, path = scope["method"], scope["path"]
        oversized = _oversized_head(scope)
        if oversized:
            return await _fail(send, oversized)
        if edge.UNNORMALISED_PATH.search(_target(scope)) or not edge.SANE_HOST.match(_header(scope["headers"], b"host") or ""):
            return await _fail(send, "bad_request")
        if path == "/healthz":
            return await _respond(send, 200, edge.HEALTH_BODY)
        page = self.pages.get(path)
        if page is not None:
            content_type = edge.WEB_CONTENT_TYPES[page.suffix]
            return await _respond(send, 200, page.read_bytes(), content_type=content_type, head=method == "HEAD")
        route = self.table.route_for(path)
        if route is None:
            return await _fail(send, "not_found")
        if int(_header(scope["headers"], b"content-length") or 0) > self.table.max_body_bytes:
            return await _fail(send, "payload_too_large")
        client = scope["client_address"]
        rule = self.table.rate_limit_for(method, path)
        if rule is not None and not self.buckets[rule.name].admit(client):
            return await _fail(send, "rate_limited", RETRY_AFTER)
        # As nginx: limit_req first, then limit_conn, whose count a request holds until it is answered.
        connections = self.table.connection_limit_for(method, path)
        in_flight = self.in_flight[connections.name] if connections is not None else None
        if in_flight is not None and not in_flight.enter(client):
            return await _fail(send, "rate_limited", RETRY_AFTER)
        exchange.upstream = route.upstream_host_port  # as nginx logs $upstream_addr
        if in_flight is None:
            return await self._proxy(scope, receive, send, route, exchange)
        await self._proxy_in_flight(scope, receive, send, route, exchange, in_flight)

    async def _proxy_in_flight(self, scope: Scope, receive: Receive, send: Send, route: Route, exchange: Exchange,
                               in_flight: InFlight) -> None:
        """Proxies a request its client's count in flight holds a place for, until the answer's last part goes: its
        client may send its next request the moment it has it, as nginx counts."""
        client = scope["client_address"]
        left = False

        def leave() -> None:
            nonlocal left
            if not left:
                left = True
                in_flight.leave(client)

        async def send_leaving_at_the_end(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                leave()
            await send(message)

        try:
            await self._proxy(scope, receive, send_leaving_at_the_end, route, exchange)
        finally:
            leave()

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, route: Route, exchange: Exchange) -> None:
        stream = self.table.stream_for(scope["path"])
        timeout = self.timeout if stream is None else httpx.Timeout(stream.read_timeout, connect=self.table.connect_timeout)
        request = httpx.Request(
            scope["method"],
            route.upstream + _target(scope),
            headers=_upstream_headers(scope, exchange),
            content=self._body(receive) if _has_body(scope["headers"]) else None,
            extensions={"timeout": timeout.as_dict()},
        )
        transport = self.transport if stream is None else self.stream_transport
        try:
            response = await transport.handle_async_request(request)
        except BodyTooLarge:
            return await _fail(send, "payload_too_large")
        except ClientDisconnected:
            return
        except httpx.TimeoutException:
            return await _fail(send, "gateway_timeout")
        except httpx.TransportError:
            return await _fail(send, "bad_gateway")
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": _without_hop_by_hop(response.headers.raw)})
            # A failure past this point cannot become a clean error: the exception makes the server drop the
            # connection, so the client sees a truncated response rather than a complete wrong one.
            relay = _relay(send, response)
            await (relay if stream is None else _until_disconnected(relay, receive))
        finally:
            await response.aclose()

    async def _body(self, receive: Receive) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            # Content-Length was checked already; this catches chunked bodies, which declare no size up front.
            if received > self.table.max_body_bytes:
                raise BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body"):
                return


async def _relay(send: Send, response: httpx.Response) -> None:
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _until_disconnected(relay: Awaitable[None], receive: Receive) -> None:
    """A stream may stay open for hours and its service keeps sending: it ends when its client goes (the server
    drops what is sent to a gone client without a word), as nginx closes the upstream connection then."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(relay), asyncio.ensure_future(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if tasks[0].done() and not tasks[0].cancelled() and tasks[0].exception() is not None:
        raise tasks[0].exception()  # type: ignore[misc]  # an exception, checked just above


def _edge_send(send: Send, exchange: Exchange) -> Send:
    """Every response leaves with the request id and the security headers, whoever produced it."""
    owned = [
        (b"x-request-id", exchange.request_id.encode()),
        *((name.lower().encode(), value.encode()) for name, value in edge.SECURITY_HEADERS.items()),
    ]

    async def edge_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            message["headers"] = [(n, v) for n, v in message.get("headers", []) if n.lower() not in OWNED] + owned
        elif message["type"] == "http.response.body":
            exchange.bytes_sent += len(message.get("body", b""))
        await send(message)

    return edge_send


async def _respond(send: Send, status: int, body: bytes, extra: Headers = (), *,
                   content_type: str = "application/json", head: bool = False) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _fail(send: Send, code: str, extra: Headers = ()) -> None:
    await _respond(send, edge.error_status(code), edge.error_body(code), extra)


def _request_id(headers: Headers) -> str:
    offered = _header(headers, b"x-request-id")
    if offered is not None and edge.SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def _header(headers: Headers, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in headers if key.lower() == name), None)


def _oversized_head(scope: Scope) -> str | None:
    """The error nginx's header buffers give for the same request head, if too large; h11 checks its buffer only
    while a head is incomplete, so a head that arrives whole is measured here."""
    if len(_target(scope)) > edge.MAX_LINE_BYTES:
        return "uri_too_long"
    lines = [len(name) + len(value) + 2 for name, value in scope["headers"]]
    if any(size > edge.MAX_LINE_BYTES for size in lines) or sum(lines) > edge.MAX_HEADER_BYTES:
        return "headers_too_large"
    return None


def _has_body(headers: Headers) -> bool:
    return int(_header(headers, b"content-length") or 0) > 0 or _header(headers, b"transfer-encoding") is not None


def _peer_address(scope: Scope) -> str:
    return scope["client"][0] if scope.get("client") else "unknown"


def _forwarded_for(headers: Headers) -> str | None:
    """Every X-Forwarded-For line, joined in order, as one list (a proxy may add a line of its own)."""
    values = [value.decode("latin-1") for key, value in headers if key.lower() == b"x-forwarded-for"]
    return ",".join(values) if values else None


def _target(scope: Scope) -> str:
    """The request target exactly as the client sent it: services serve their full paths, nothing is rewritten."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _without_hop_by_hop(headers: Headers) -> Headers:
    named_by_connection = {
        token.strip().lower().encode()
        for key, value in headers if key.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in named_by_connection]


def _upstream_headers(scope: Scope, exchange: Exchange) -> Headers:
    client = str(scope["client_address"]).encode()
    headers = [(k, v) for k, v in _without_hop_by_hop(scope["headers"]) if k.lower() not in {*REPLACED, *FORWARDING}]
    trace_id, parent_id, flags = exchange.trace
    tracestate = _header(scope["headers"], b"tracestate")
    kept = tracestate is not None and edge.VALID_TRACEPARENT.fullmatch(_header(scope["headers"], b"traceparent") or "")
    return [
        *headers,
        (b"x-request-id", exchange.request_id.encode()),
        (b"traceparent", f"00-{trace_id}-{parent_id}-{flags}".encode()),
        # A client's tracestate goes on only beside the traceparent it belongs to.
        *([(b"tracestate", tracestate.encode("latin-1"))] if kept and tracestate else []),
        # The gateway is the platform's edge: the client is the address it saw (or its trusted proxy's word for it),
        # whatever the client wrote; nothing the client sent is appended.
        (b"x-real-ip", client),
        (b"x-forwarded-for", client),
        (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
    ]


def _log_access(scope: Scope, exchange: Exchange) -> None:
    ACCESS_LOG.info(json.dumps({
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "request_id": exchange.request_id,
        "client": scope["client_address"],
        "method": scope["method"],
        "path": scope["path"],
        "status": exchange.status,
        "bytes_sent": exchange.bytes_sent,
        "duration_seconds": round(time.perf_counter() - exchange.started, 3),
        "upstream": exchange.upstream,
        "trace_id": exchange.trace[0],
        "span_id": exchange.trace[1],
        "trace_flags": exchange.trace[2],
    }))
