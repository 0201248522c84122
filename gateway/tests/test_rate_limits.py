"""The token and vote endpoints' rate limits, per client address, the same in both gateways."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.table import RateLimit, load
from tests.conftest import Gateway, most_admitted

LIMITS = load().rate_limits


def hammer(gateway: Gateway, path: str, times: int, *, source: str = "127.0.0.1") -> list[httpx.Response]:
    """`times` POSTs sent together, each client connected first: sent one by one on a busy machine, they would
    arrive slower than the bucket drains, and none would be limited."""
    together = threading.Barrier(times)

    def post(_: int) -> httpx.Response:
        with gateway.client(transport=httpx.HTTPTransport(local_address=source)) as client:
            client.get("/healthz")
            together.wait()
            return client.post(path, json={})

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(post, range(times)))


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.name)
def test_a_burst_beyond_the_limit_is_a_json_429(gateway: Gateway, limit: RateLimit) -> None:
    started = time.monotonic()
    responses = hammer(gateway, limit.path, limit.burst + 10)
    statuses = [response.status_code for response in responses]
    admitted = statuses.count(200)
    # nginx admits the first request and `burst` more at once, and more as the bucket drains meanwhile.
    assert limit.burst + 1 <= admitted <= most_admitted(limit, started), statuses
    rejected = next(response for response in responses if response.status_code == 429)
    assert rejected.headers["retry-after"] == "1"
    assert rejected.json()["error"] == "rate_limited"
    assert rejected.headers["x-content-type-options"] == "nosniff"
    # Another client is counted on its own.
    assert hammer(gateway, limit.path, 1, source="127.0.0.2")[0].status_code == 200


def test_only_the_limited_methods_are_counted(gateway: Gateway) -> None:
    with gateway.client() as client:
        statuses = {client.get("/api/votes/").status_code for _ in range(40)}
    assert statuses == {200}


def test_other_paths_of_a_limited_service_are_not_counted(gateway: Gateway) -> None:
    with gateway.client() as client:
        statuses = {client.post("/api/votes/results/1/", json={}).status_code for _ in range(40)}
    assert statuses == {200}


AWAITING = next(iter(load().connection_limits))


def together(gateway: Gateway, path: str, times: int, *, source: str) -> list[httpx.Response]:
    """`times` GETs of `path` sent at once from `source`, each client connected first."""
    at_once = threading.Barrier(times)

    def get(_: int) -> httpx.Response:
        with gateway.client(transport=httpx.HTTPTransport(local_address=source)) as client:
            client.get("/healthz")
            at_once.wait()
            return client.get(path)

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(get, range(times)))


AWAITED_PATHS = [*AWAITING.paths, *(f"{prefix}some-id/" for prefix in AWAITING.prefixes)]


# Answered late by the stub, so that a client's requests are all in flight together.
@pytest.mark.parametrize("path", AWAITED_PATHS)
def test_a_client_has_a_bounded_number_of_requests_in_flight_on_the_awaiting_paths(gateway: Gateway, path: str) -> None:
    source = f"127.0.7.{1 + AWAITED_PATHS.index(path)}"
    responses = together(gateway, f"{path}?sleep=0.5", AWAITING.connections + 6, source=source)
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) <= AWAITING.connections and statuses.count(429) >= 1, statuses
    assert set(statuses) <= {200, 429}, statuses
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"] == "rate_limited" and refused.headers["retry-after"] == "1"
    # Once they are answered, the client has its places back.
    assert {r.status_code for r in together(gateway, path, AWAITING.connections, source=source)} == {200}


def test_other_paths_have_no_bound_on_requests_in_flight(gateway: Gateway) -> None:
    statuses = [r.status_code for r in together(gateway, "/api/polls/?sleep=0.5", AWAITING.connections + 6,
                                                source="127.0.7.20")]
    assert statuses == [200] * (AWAITING.connections + 6)
