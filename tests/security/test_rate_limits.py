"""Rate limits hold against what a client controls: the spelling of the path and the forwarding headers."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.table import load
from tests.security.conftest import LIMITS_ON, Platform, client

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
PARALLEL = 40
GATEWAY_REFUSALS = {"rate_limited", "bad_request"}
LIMITS = {path: limit for limit in load().rate_limits for path in limit.paths}


def _source(platform: Platform, gateway_url: str, number: int) -> str:
    return f"127.0.{4 if gateway_url == platform.url else 5}.{number}"


def _all_at_once(url: str, target: str, source: str) -> tuple[float, list[httpx.Response]]:
    """PARALLEL POSTs of the target as written (httpx would remove dot segments from a URL it is given), each
    client made and connected first, then all sent together; and when they were sent."""
    together = threading.Barrier(PARALLEL)

    def post(_: int) -> httpx.Response:
        with client(url, source) as http:
            http.get("/healthz")  # connected before the barrier
            request = http.build_request("POST", url, json={})
            request.url = request.url.copy_with(raw_path=target.encode())
            together.wait()
            return http.send(request)

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = pool.map(post, range(PARALLEL))
        started = time.monotonic()
        return started, list(answers)


def _most_admitted(path: str, started: float) -> int:
    limit = LIMITS[path]
    return limit.burst + 1 + math.ceil(limit.rate * (time.monotonic() - started))


# The gateway tests try every spelling against stub services; here, one of each kind against the real ones.
@pytest.mark.parametrize(("path", "target"), [
    ("/api/votes/", "/api/votes/./"),
    ("/api/votes/", "/api/votes/%2e/"),
    ("/api/votes/", "/api//votes/"),
    ("/api/auth/token/", "/api/auth/token/./"),
], ids=lambda value: value)
def test_a_dressed_up_path_is_limited_as_the_plain_one(platform: Platform, gateway_url: str, path: str, target: str):
    number = 10 + [*LIMITS].index(path) * 20 + len(target)
    started, answers = _all_at_once(gateway_url, target, _source(platform, gateway_url, number))
    reached = [answer for answer in answers if answer.json().get("error") not in GATEWAY_REFUSALS]
    assert len(reached) <= _most_admitted(path, started), [answer.status_code for answer in answers]


def test_the_plain_path_is_limited_under_the_same_load(platform: Platform, gateway_url: str):
    started, answers = _all_at_once(gateway_url, "/api/votes/", _source(platform, gateway_url, 200))
    refused = [answer for answer in answers if answer.json().get("error") == "rate_limited"]
    assert PARALLEL - len(refused) <= _most_admitted("/api/votes/", started)
    assert refused


def test_spoofed_forwarding_headers_reset_neither_the_gateways_nor_the_services_limits(platform: Platform, gateway_url: str):
    source = _source(platform, gateway_url, 201)

    def spoofing(number: int) -> httpx.Response:
        spoofed = {"X-Forwarded-For": f"198.51.100.{number}", "X-Real-IP": f"198.51.100.{number}",
                   "Forwarded": f"for=198.51.100.{number}"}
        with client(gateway_url, source) as http:
            return http.post("/api/auth/register/", json={"username": f"spoof{number}", "password": "x"}, headers=spoofed)

    # auth-service's own limit on registration, 20 a minute per client address, keyed on the gateway's word.
    answers = [spoofing(number) for number in range(30)]
    assert [answer.json().get("error") for answer in answers].count("throttled") >= 30 - 20, [a.status_code for a in answers]
