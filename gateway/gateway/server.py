"""uvicorn's HTTP/1.1 protocol with the platform's JSON error body for requests it cannot parse."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway import edge

# As nginx's lingering_timeout.
LINGER_SECONDS = 5


def server_options() -> dict[str, Any]:
    """uvicorn.run() options: this protocol, and h11's buffer for an unfinished request head as large as nginx's."""
    return {"http": JsonErrorH11Protocol, "h11_max_incomplete_event_size": edge.MAX_HEADER_BYTES}


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn answers a request h11 cannot parse (a malformed line, a duplicate Host, headers past h11's buffer)
    with a text/plain 400; this answers with the JSON error body nginx's `error_page` gives for the same."""

    def send_400_response(self, msg: str) -> None:
        buffered, _ = self.conn.trailing_data
        code = "headers_too_large" if len(buffered) > edge.MAX_HEADER_BYTES else "bad_request"
        body = edge.error_body(code)
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            *((name.lower().encode(), value.encode()) for name, value in edge.SECURITY_HEADERS.items()),
        ]
        self.transport.write(self.conn.send(h11.Response(status_code=edge.error_status(code), headers=headers)))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self._linger()

    def _linger(self) -> None:
        """nginx's lingering close: closing with the client's request still arriving makes the kernel reset the
        connection, and a reset can destroy the answer before the client reads it. So the write side ends, what
        else arrives is read and dropped, and the connection closes a moment later."""
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not getattr(self, "lingering", False):
            super().data_received(data)
