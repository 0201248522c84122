"""The routing table's stream routes, the same in both gateways: each event goes on as the service sends it, the
service may stay silent past the edge's read timeout, a client going ends the service's stream, and a client
holds a bounded number of streams."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from gateway.table import load
from tests import stubs
from tests.conftest import READ_TIMEOUT_SECONDS, Gateway, covered_paths

TABLE = load()
[STREAM] = TABLE.streams
STREAMED_PATH = covered_paths(STREAM)[0]
LIVE = TABLE.connection_limit_for("GET", STREAMED_PATH)
PATIENCE_SECONDS = 10


@contextmanager
def held(gateway: Gateway, name: str, *, source: str) -> Iterator[httpx.Response]:
    """A stream of the stub that sends its first event, then waits for `release(name)`."""
    with gateway.client(transport=httpx.HTTPTransport(local_address=source)) as client, \
            client.stream("GET", f"{STREAMED_PATH}?hold={name}") as response:
        yield response


def release(gateway: Gateway, name: str) -> None:
    # Through another route, so that no limit of the stream's counts it.
    assert gateway.client().get(f"/api/polls/?release={name}").status_code == 200


def until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_each_event_goes_on_as_the_service_sends_it(gateway: Gateway) -> None:
    name = uuid.uuid4().hex
    with held(gateway, name, source="127.0.8.1") as response:
        events = response.iter_bytes()
        first = next(events)  # while the service still holds the rest: nothing waits in a buffer
        release(gateway, name)
        rest = b"".join(events)

    assert (response.status_code, response.headers["content-type"]) == (200, "text/event-stream")
    assert (first, rest) == (b"data: first\n\n", b"data: second\n\n")


def test_a_stream_may_be_silent_past_the_edges_read_timeout(gateway: Gateway) -> None:
    assert STREAM.read_timeout > READ_TIMEOUT_SECONDS * 2
    name = uuid.uuid4().hex
    with held(gateway, name, source="127.0.8.2") as response:
        events = response.iter_bytes()
        next(events)
        time.sleep(READ_TIMEOUT_SECONDS * 1.5)  # what the same silence on any other path meets: a 504
        release(gateway, name)
        assert b"".join(events) == b"data: second\n\n"


def test_a_client_going_ends_the_services_stream(gateway: Gateway) -> None:
    name = uuid.uuid4().hex
    with held(gateway, name, source="127.0.8.3") as response:
        next(response.iter_bytes())

    until(lambda: name in stubs.GONE, "the gateway kept the service's stream after its client went")


def test_a_client_holds_a_bounded_number_of_streams(gateway: Gateway) -> None:
    assert LIVE is not None and LIVE.prefixes == STREAM.prefixes
    names = [uuid.uuid4().hex for _ in range(LIVE.connections)]
    with httpx.Client(base_url=gateway.url, timeout=10, transport=httpx.HTTPTransport(local_address="127.0.8.4",
                                                                                      limits=httpx.Limits())) as client:
        streams = [client.stream("GET", f"{STREAMED_PATH}?hold={name}") for name in names]
        opened = [stream.__enter__() for stream in streams]
        try:
            events = [response.iter_bytes() for response in opened]  # kept: a dropped one closes its stream
            for each in events:
                next(each)
            refused = client.get(f"{STREAMED_PATH}?hold=one-more")
        finally:
            release(gateway, " ".join(names))
            for stream in streams:
                stream.__exit__(None, None, None)

    assert [response.status_code for response in opened] == [200] * LIVE.connections
    assert (refused.status_code, refused.json()["error"], refused.headers["retry-after"]) == (429, "rate_limited", "1")
