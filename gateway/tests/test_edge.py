"""The same requests through both gateways (see conftest), expecting the same answers."""

from __future__ import annotations

import hashlib
import json
import re
import time

import httpx
import pytest
from service_kit.testing import assert_error_body

from gateway import edge
from gateway.table import Route, load
from tests.conftest import READ_TIMEOUT_SECONDS, Gateway

ROUTES = load().routes
GENERATED_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    return str(assert_error_body(response.json(), response.status_code)["error"])


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.service)
def test_each_prefix_reaches_its_service_unchanged(gateway: Gateway, services: dict[str, int], route: Route) -> None:
    target = f"{route.prefix}42/close/?page=2&q=a%2Fb"
    with gateway.client() as client:
        response = client.put(target, content=b'{"a": 1}', headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["port"] == services[route.service]
    assert (seen["method"], seen["target"]) == ("PUT", target)
    assert seen["body_sha256"] == hashlib.sha256(b'{"a": 1}').hexdigest()


EXACT = [(route, path) for route in ROUTES for path in route.paths]


@pytest.mark.parametrize(("route", "path"), EXACT, ids=[path for _, path in EXACT])
def test_each_exact_path_reaches_its_service_and_nothing_beside_it_does(
    gateway: Gateway, services: dict[str, int], route: Route, path: str
) -> None:
    with gateway.client() as client:
        response = client.get(f"{path}?x=1")
        beside = [client.get(path + "x"), client.get(path + "/"), client.get(path.rsplit("/", 1)[0] + "/")]
    assert response.status_code == 200
    assert (response.json()["port"], response.json()["target"]) == (services[route.service], f"{path}?x=1")
    assert [answer.status_code for answer in beside] == [404, 404, 404]


def test_a_service_answer_passes_through_untouched(gateway: Gateway) -> None:
    with gateway.client() as client:
        response = client.post("/api/polls/?status=409", json={"question": "?"})
    assert response.status_code == 409
    assert response.json()["method"] == "POST"


def test_services_see_who_asked_and_where(gateway: Gateway) -> None:
    with gateway.client() as client:
        seen = client.get("/api/polls/", headers={"Authorization": "Bearer t", "X-Forwarded-For": "203.0.113.9"}).json()
    headers = seen["headers"]
    assert headers["authorization"] == "Bearer t"
    assert headers["host"] == gateway.url.removeprefix("http://")
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"


def test_large_and_chunked_request_bodies_stream_through(gateway: Gateway) -> None:
    body = bytes(range(256)) * 3000  # 750 KiB, under the limit
    with gateway.client() as client:
        sized = client.post("/api/choices/", content=body).json()
        chunked = client.post("/api/choices/", content=iter([body[:1000], body[1000:]])).json()
    for seen in (sized, chunked):
        assert seen["body_bytes"] == len(body)
        assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_streamed_answer_arrives_whole(gateway: Gateway) -> None:
    with gateway.client() as client:
        response = client.get("/api/votes/results/1/?chunks=7")
    assert response.status_code == 200
    assert response.json()["target"] == "/api/votes/results/1/?chunks=7"


@pytest.mark.parametrize("offered", ["abc-123", "a" * 128, "Req_1.2-3"])
def test_a_sane_request_id_is_kept(gateway: Gateway, offered: str) -> None:
    with gateway.client() as client:
        response = client.get("/api/auth/me/", headers={"X-Request-ID": offered})
    assert response.headers["x-request-id"] == offered
    assert response.json()["headers"]["x-request-id"] == offered


@pytest.mark.parametrize("offered", [None, "", "a" * 129, "has space", "semi;colon", "ünï"])
def test_a_missing_or_odd_request_id_is_replaced(gateway: Gateway, offered: str | None) -> None:
    headers = {} if offered is None else {"X-Request-ID": offered.encode()}
    with gateway.client() as client:
        response = client.get("/api/auth/me/", headers=headers)  # type: ignore[arg-type]
    generated = response.headers["x-request-id"]
    assert GENERATED_REQUEST_ID.fullmatch(generated)
    assert response.json()["headers"]["x-request-id"] == generated


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/polls/", "/no/such/thing"])
def test_every_answer_carries_the_security_headers_once(gateway: Gateway, path: str) -> None:
    with gateway.client() as client:
        response = client.get(path)
    for name, value in edge.SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert len(response.headers.get_list("x-request-id")) == 1


def test_healthz(gateway: Gateway) -> None:
    with gateway.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/no/such/thing", "/api/", "/api/unknown/", "/api/pollsx/"])
def test_an_unknown_path_is_a_json_404(gateway: Gateway, path: str) -> None:
    with gateway.client() as client:
        response = client.get(path)
    assert response.status_code == 404
    assert error_of(response) == "not_found"


@pytest.mark.parametrize(("path", "content_type", "marker"), [
    ("/", "text/html", b"<!doctype html>"),
    ("/app.js", "application/javascript", b"use strict"),
    ("/style.css", "text/css", b"{"),
])
def test_the_page_is_served(gateway: Gateway, path: str, content_type: str, marker: bytes) -> None:
    with gateway.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.content.lower()


def test_a_body_over_the_limit_is_a_json_413(gateway: Gateway) -> None:
    too_large = b"x" * (load().max_body_bytes + 1)
    with gateway.client() as client:
        sized = client.post("/api/polls/", content=too_large)
        chunked = client.post("/api/polls/", content=iter([too_large[:1000], too_large[1000:]]))
    for response in (sized, chunked):
        assert response.status_code == 413
        assert error_of(response) == "payload_too_large"
        assert response.headers["x-frame-options"] == "DENY"


def test_a_slow_service_is_a_json_504(gateway: Gateway) -> None:
    with gateway.client() as client:
        response = client.get(f"/api/polls/?sleep={READ_TIMEOUT_SECONDS + 2}", headers={"X-Request-ID": "slow-1"})
    assert response.status_code == 504
    assert error_of(response) == "gateway_timeout"
    assert response.headers["x-request-id"] == "slow-1"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_service_that_is_down_is_a_json_502(gateway_without_services: Gateway, method: str) -> None:
    with gateway_without_services.client() as client:
        response = client.request(method, "/api/votes/results/1/", json={})
    assert response.status_code == 502
    assert error_of(response) == "bad_gateway"
    assert GENERATED_REQUEST_ID.fullmatch(response.headers["x-request-id"])


def test_the_gateway_itself_stays_up_without_services(gateway_without_services: Gateway) -> None:
    with gateway_without_services.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200


def test_access_log_is_one_json_object_per_request(gateway: Gateway) -> None:
    with gateway.client() as client:
        client.get("/api/polls/7/?x=1", headers={"X-Request-ID": "logged-1"})
        client.get("/nowhere", headers={"X-Request-ID": "logged-2"})
    entries: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 5
    while not {"logged-1", "logged-2"} <= entries.keys() and time.monotonic() < deadline:
        time.sleep(0.05)  # a request is logged once it is answered, so its line may trail the answer a little
        entries = {entry["request_id"]: entry for entry in map(json.loads, gateway.access_log_lines())}
    assert {"method": "GET", "path": "/api/polls/7/", "status": 200}.items() <= entries["logged-1"].items()
    assert {"path": "/nowhere", "status": 404}.items() <= entries["logged-2"].items()
    assert entries["logged-1"]["upstream"] and isinstance(entries["logged-1"]["duration_seconds"], float)


def test_nginx_serves_what_a_service_marks_public_from_its_cache_and_never_to_a_signed_in_caller(
    gateway: Gateway,
) -> None:
    if gateway.kind != "nginx":
        pytest.skip("make run's development proxy keeps no cache")
    # A path of its own: the cache outlives a test, and the rate limit of the results paths counts every read.
    path = f"/api/polls/{time.monotonic_ns()}/?public=60"
    with gateway.client() as client:
        first, again = client.get(path), client.get(path)
        signed_in = client.get(path, headers={"Authorization": "Bearer some-token"})
        private = client.get(path.replace("?public=60", ""))

    # The echo answers with the request it saw, the gateway's request id in it: a cached copy repeats the first.
    assert (first.headers["X-Cache-Status"], again.headers["X-Cache-Status"]) == ("MISS", "HIT")
    assert again.json() == first.json()
    assert signed_in.headers["X-Cache-Status"] == "BYPASS" and signed_in.json() != first.json()
    assert private.headers["X-Cache-Status"] == "MISS"
    with gateway.client() as client:
        assert client.get(path.replace("?public=60", "")).json() != private.json()
        # Outside the table's cached reads an answer never meets the cache, whatever it says.
        assert client.get("/api/polls/?public=60").headers["X-Cache-Status"] == "BYPASS"
