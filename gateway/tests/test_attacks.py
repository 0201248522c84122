"""What an attacker tries at the edge, through both gateways: paths dressed up to miss a rate limit, forwarding
headers written by the client, requests too large or malformed for the server to parse."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from service_kit.testing import assert_error_body

from gateway.table import RateLimit, load
from tests.conftest import Gateway, counted_method, covered_paths, most_admitted

LIMITS = load().rate_limits
PARALLEL = 40


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    def error(self) -> str:
        assert self.content_type.startswith("application/json"), (self.status, self.content_type, self.body[:200])
        return str(assert_error_body(json.loads(self.body), self.status)["error"])


def send(gateway: Gateway, method: str, target: str, *, source: str = "127.0.0.1",
         headers: dict[str, str] | None = None, body: bytes = b"{}") -> Answer:
    """The request target exactly as given: httpx would remove the dot segments before sending."""
    address = urlsplit(gateway.url)
    assert address.hostname
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30, source_address=(source, 0))
    try:
        connection.request(method, target, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return Answer(response.status, response.getheader("content-type", ""), response.read())
    finally:
        connection.close()


def raw_exchange(gateway: Gateway, request: bytes) -> Answer:
    address = urlsplit(gateway.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, response.getheader("content-type", ""), response.read())


def parallel(send_one: Callable[[int], Answer]) -> list[Answer]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(send_one, range(PARALLEL)))


def tricks(path: str) -> list[str]:
    """Spellings of `path` that a server normalising dot segments, percent-escapes or slashes takes for it."""
    parent, last = path.rstrip("/").rsplit("/", 1)
    return [
        f"{path}./",
        f"{path}.",
        f"{path}%2e/",
        f"{path}%2E",
        f"{path}x/../",
        f"{path}x/%2e%2e/",
        f"{parent}/./{last}/",
        f"{parent}//{last}/",
        f"/{path}",
        f"{path}?x=1",
    ]


CASES = [(limit, trick) for limit in LIMITS for trick in tricks(covered_paths(limit)[0])]


@pytest.mark.parametrize(("limit", "target"), CASES, ids=[f"{limit.name}:{trick}" for limit, trick in CASES])
def test_parallel_requests_on_a_dressed_up_path_are_limited_as_on_the_plain_one(
    gateway: Gateway, limit: RateLimit, target: str
) -> None:
    # A client address of its own per case, so each starts with a full bucket.
    source = f"127.0.{1 + CASES.index((limit, target)) // 200}.{10 + CASES.index((limit, target)) % 200}"
    started = time.monotonic()
    answers = parallel(lambda _: send(gateway, counted_method(limit), target, source=source))
    reached = [answer for answer in answers if answer.status == 200]
    assert len(reached) <= most_admitted(limit, started), [answer.status for answer in answers]
    assert {answer.error() for answer in answers if answer.status != 200} <= {"rate_limited", "bad_request"}


def test_the_plain_path_is_limited_under_parallel_requests(gateway: Gateway) -> None:
    limit = LIMITS[0]
    started = time.monotonic()
    answers = parallel(lambda _: send(gateway, counted_method(limit), covered_paths(limit)[0], source="127.0.3.1"))
    statuses = [answer.status for answer in answers]
    assert limit.burst + 1 <= statuses.count(200) <= most_admitted(limit, started), statuses
    assert {answer.error() for answer in answers if answer.status != 200} == {"rate_limited"}


def test_services_see_the_gateways_view_of_the_client_never_the_clients_own(gateway: Gateway) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.10", "Forwarded": "for=203.0.113.11"}
    seen = json.loads(send(gateway, "GET", "/api/polls/", source="127.0.3.2", headers=spoofed).body)["headers"]
    assert seen["x-forwarded-for"] == "127.0.3.2"
    assert seen["x-real-ip"] == "127.0.3.2"
    assert "forwarded" not in seen


def test_spoofed_forwarding_headers_do_not_reset_the_limit(gateway: Gateway) -> None:
    limit = LIMITS[0]

    def spoofing(number: int) -> Answer:
        headers = {"X-Forwarded-For": f"198.51.100.{number}", "X-Real-IP": f"198.51.100.{number}"}
        return send(gateway, counted_method(limit), covered_paths(limit)[0], source="127.0.3.3", headers=headers)

    started = time.monotonic()
    statuses = [answer.status for answer in parallel(spoofing)]
    assert statuses.count(200) <= most_admitted(limit, started), statuses


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024], ids=["64KiB", "1MiB"])
def test_a_huge_header_is_a_json_4xx(gateway: Gateway, size: int) -> None:
    try:
        answer = send(gateway, "GET", "/api/polls/", headers={"X-Padding": "x" * size})
    except (ConnectionResetError, BrokenPipeError):
        # The server may answer before the client has finished writing; then read what it said.
        pytest.fail("the gateway closed the connection without an answer")
    assert 400 <= answer.status < 500
    assert answer.error() in {"bad_request", "headers_too_large"}


def test_a_huge_uri_is_a_json_4xx(gateway: Gateway) -> None:
    answer = send(gateway, "GET", "/api/polls/?q=" + "x" * (64 * 1024))
    assert 400 <= answer.status < 500
    assert answer.error() in {"bad_request", "headers_too_large", "uri_too_long"}


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/polls/ HTTP/1.1\r\nHost: a\r\nBroken header line\r\n\r\n",
    b"GET /api/polls/ HTTP/1.1\r\nHost: a b/c\r\n\r\n",
    b"GET /api/polls/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
], ids=["header-without-colon", "host-with-space", "two-hosts"])
def test_a_malformed_request_is_a_json_400(gateway: Gateway, request_bytes: bytes) -> None:
    answer = raw_exchange(gateway, request_bytes)
    assert answer.status == 400
    assert answer.error() == "bad_request"
