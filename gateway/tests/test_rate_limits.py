"""The per-client limits, the same in both gateways: the rate limits (tokens, votes, the reads that may look for a
read model) and the bound on requests in flight where an answer may wait for one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.table import RateLimit, load
from tests.conftest import Gateway, counted_method, covered_paths, most_admitted

TABLE = load()
LIMITS = TABLE.rate_limits
AWAITING = next(iter(TABLE.connection_limits))
AWAITED_PATHS = covered_paths(AWAITING)


def at_once(gateway: Gateway, method: str, path: str, times: int, *, source: str = "127.0.0.1",
            connections: int | None = None) -> list[httpx.Response]:
    """`times` requests from `source` over `connections` clients (one per request unless said), each connected
    first and all starting together, each sending its share in turn: sent one by one on a busy machine, they would
    arrive slower than a bucket drains, and none would be limited."""
    clients = min(times, connections or times)
    start = threading.Barrier(clients)

    def send(number: int) -> list[httpx.Response]:
        with gateway.client(transport=httpx.HTTPTransport(local_address=source)) as client:
            client.get("/healthz")
            start.wait()
            return [client.request(method, path, json={} if method == "POST" else None)
                    for _ in range(number, times, clients)]

    with ThreadPoolExecutor(clients) as pool:
        return [response for share in pool.map(send, range(clients)) for response in share]


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.name)
def test_a_burst_beyond_the_limit_is_a_json_429(gateway: Gateway, limit: RateLimit) -> None:
    method, path = counted_method(limit), covered_paths(limit)[0]
    # No more at once than the path's bound on requests in flight, which would refuse some of the burst itself.
    in_flight = TABLE.connection_limit_for(method, path)
    connections = in_flight.connections if in_flight else None
    started = time.monotonic()
    responses = at_once(gateway, method, path, limit.burst + 10, connections=connections)
    statuses = [response.status_code for response in responses]
    admitted = statuses.count(200)
    # nginx admits the first request and `burst` more at once, and more as the bucket drains meanwhile.
    assert limit.burst + 1 <= admitted <= most_admitted(limit, started), statuses
    rejected = next(response for response in responses if response.status_code == 429)
    assert rejected.headers["retry-after"] == "1"
    assert rejected.json()["error"] == "rate_limited"
    assert rejected.headers["x-content-type-options"] == "nosniff"
    # Another client is counted on its own, and so is each path of the limit.
    assert at_once(gateway, method, path, 1, source="127.0.0.2")[0].status_code == 200
    for index, other in enumerate(covered_paths(limit)[1:]):
        started = time.monotonic()
        statuses = [r.status_code for r in at_once(gateway, method, other, limit.burst + 10,
                                                   source=f"127.0.0.{3 + index}", connections=connections)]
        assert limit.burst + 1 <= statuses.count(200) <= most_admitted(limit, started), (other, statuses)


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.name)
def test_only_the_limited_methods_are_counted(gateway: Gateway, limit: RateLimit) -> None:
    method = "GET" if "GET" not in limit.methods else "POST"
    with gateway.client() as client:
        statuses = {client.request(method, covered_paths(limit)[0]).status_code for _ in range(40)}
    assert statuses == {200}


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/votes/results/1/"), ("GET", "/api/choices/some-id/")])
def test_other_paths_of_a_limited_service_are_not_counted(gateway: Gateway, method: str, path: str) -> None:
    with gateway.client() as client:
        statuses = {client.request(method, path).status_code for _ in range(40)}
    assert statuses == {200}


# Answered late by the stub, so that a client's requests are all in flight together.
@pytest.mark.parametrize("path", AWAITED_PATHS)
def test_a_client_has_a_bounded_number_of_requests_in_flight_on_the_awaiting_paths(gateway: Gateway, path: str) -> None:
    source = f"127.0.7.{1 + AWAITED_PATHS.index(path)}"
    # GETs, which the reads' rate limit admits up to its burst at once: past the bound in flight, so the bound
    # applies in the same place.
    responses = at_once(gateway, "GET", f"{path}?sleep=0.5", AWAITING.connections + 6, source=source)
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) <= AWAITING.connections and statuses.count(429) >= 1, statuses
    assert set(statuses) <= {200, 429}, statuses
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"] == "rate_limited" and refused.headers["retry-after"] == "1"
    # Once they are answered, the client has its places back (POSTs, which no rate limit here counts: the GETs'
    # bucket is still full).
    assert {r.status_code for r in at_once(gateway, "POST", path, AWAITING.connections, source=source)} == {200}


def test_other_paths_have_no_bound_on_requests_in_flight(gateway: Gateway) -> None:
    statuses = [r.status_code for r in at_once(gateway, "GET", "/api/polls/?sleep=0.5", AWAITING.connections + 6,
                                               source="127.0.7.20")]
    assert statuses == [200] * (AWAITING.connections + 6)
