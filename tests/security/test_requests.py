"""Requests no parser, host check or header buffer can take, through both gateways to the real services:
every answer is a 4xx with the platform's JSON error body, never a 500, an HTML page or plain text."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.conftest import LIMITS_ON, Platform, User, assert_json_error, client, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
SOURCE = "127.0.2.1"
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture(scope="module")
def user(platform: Platform) -> User:
    return fresh_user(platform.url, SOURCE)


def json_endpoints() -> list[tuple[str, str]]:
    some_id = str(uuid.uuid4())
    return [
        ("POST", "/api/auth/register/"),
        ("POST", "/api/auth/token/"),
        ("POST", "/api/auth/token/refresh/"),
        ("POST", "/api/polls/"),
        ("PATCH", f"/api/polls/{some_id}/"),
        ("POST", "/api/choices/"),
        ("PATCH", f"/api/choices/{some_id}/"),
        ("POST", "/api/votes/"),
    ]


BODIES = {
    "nested-1000-deep": DEEP,
    "nested-objects-5000-deep": '{"a":' * 5000 + "1" + "}" * 5000,
    "malformed": '{"question": ',
    "not-utf8": b"\xff\xfe{\x00",
    "not-an-object": "[1, 2, 3]",
    "a-bare-string": '"question"',
    "nan": '{"question": NaN}',
}


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(("method", "path"), json_endpoints(), ids=lambda value: str(value).strip("/").replace("/", "-"))
def test_a_body_no_parser_can_take_is_a_json_4xx(gateway_url: str, user: User, method: str, path: str, body: str):
    with client(gateway_url, SOURCE) as http:
        headers = {**user.authorization, "Content-Type": "application/json"}
        response = http.request(method, path, content=BODIES[body], headers=headers)
    assert_json_error(response)


@pytest.mark.parametrize(("method", "path"), json_endpoints(), ids=lambda value: str(value).strip("/").replace("/", "-"))
def test_a_body_over_the_limit_and_a_foreign_media_type_are_json_4xx(gateway_url: str, user: User, method: str, path: str):
    with client(gateway_url, SOURCE) as http:
        huge = http.request(method, path, content=b'{"question": "' + b"x" * 2_000_000 + b'"}',
                            headers={**user.authorization, "Content-Type": "application/json"})
        form = http.request(method, path, content=b"question=x", headers={**user.authorization,
                                                                          "Content-Type": "application/x-www-form-urlencoded"})
    assert assert_json_error(huge, 413) == "payload_too_large"
    # The token endpoints' own limit (20/min per client) may answer first: a JSON 4xx all the same.
    assert assert_json_error(form) in {"unsupported_media_type", "invalid", "throttled"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil", "a b", "a/b", "x" * 300, ""])
def test_a_host_the_platform_does_not_serve_is_a_json_400(gateway_url: str, host: str):
    address = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30, source_address=(SOURCE, 0))
    try:
        connection.putrequest("GET", "/api/polls/", skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        status, content_type, body = response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()
    assert status == 400, body[:300]
    assert content_type.startswith("application/json"), body[:300]
    assert set(json.loads(body)) == {"error", "message", "details"}


@pytest.mark.parametrize("size", [16 * 1024, 1024 * 1024], ids=["16KiB", "1MiB"])
def test_a_huge_header_is_a_json_4xx(gateway_url: str, size: int):
    with client(gateway_url, SOURCE) as http:
        try:
            response = http.get("/api/polls/", headers={"X-Padding": "x" * size})
        except httpx.RemoteProtocolError as error:
            pytest.fail(f"the gateway closed the connection instead of answering: {error}")
    assert assert_json_error(response) in {"headers_too_large", "bad_request"}
