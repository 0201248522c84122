"""The web processes' ASGI application: Django's WSGI handler on a thread pool, driven as uvicorn drives it."""

import asyncio
import json
import threading
from typing import Any

import pytest

from service_kit.asgi import ThreadedWSGI, get_threaded_application


def _application() -> Any:
    """The application, driven here with plain dicts as uvicorn drives it (not with the ASGI TypedDicts)."""
    return get_threaded_application()

# Throttles count per caller on the cache: every request here comes from one address.
pytestmark = pytest.mark.usefixtures("_no_throttles")


@pytest.fixture
def _no_throttles(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}


def _serve(method: str, path: str, parts: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[list[dict], int]:
    """The messages the application sends for one request whose body arrives in ``parts``, and how many of
    those parts it read."""
    incoming = [{"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
                for index, part in enumerate(parts)]
    read: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        read.append(incoming[len(read)])
        return read[-1]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"testserver"), *headers]}
    asyncio.run(_application()(scope, receive, send))
    return sent, len(read)


def _json_post(body: bytes, parts: list[bytes]) -> tuple[list[dict], int]:
    return _serve("POST", "/echo/", parts, [(b"content-type", b"application/json"),
                                             (b"content-length", str(len(body)).encode())])


def test_a_body_in_several_parts_reaches_the_view_and_the_answer_comes_back_whole():
    body = json.dumps({"question": "Tea?", "choices": [{"text": "yes"}]}).encode()

    (start, answer), parts_read = _json_post(body, [body[:10], body[10:]])

    assert (start["type"], start["status"], parts_read) == ("http.response.start", 201, 2)
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(answer["body"]) == {"question": "Tea?", "choices": [{"text": "yes"}]}
    assert not answer.get("more_body", False)


def test_a_body_declared_over_the_upload_limit_is_refused_unread_with_json(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = json.dumps({"question": "x" * 2_000}).encode()

    (start, answer), parts_read = _json_post(body, [body])

    assert (start["status"], parts_read) == (400, 0)
    assert json.loads(answer["body"])["error"] == "parse_error"


def test_a_body_without_a_length_is_not_read():
    body = json.dumps({"question": "Tea?", "choices": []}).encode()

    (start, answer), parts_read = _serve("POST", "/echo/", [body], [(b"content-type", b"application/json")])

    # As under any WSGI server: without a Content-Length Django reads an empty body.
    assert (start["status"], parts_read) == (400, 0)
    assert json.loads(answer["body"])["error"] == "invalid"


def test_lifespan_starts_and_stops():
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return incoming.pop(0)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    asyncio.run(_application()({"type": "lifespan"}, receive, send))

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def _call(application: Any, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """The status, headers and body the application answers to a GET of ``path``."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"testserver")]}
    await application(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_past_the_threads_and_the_backlog_a_request_is_refused_at_once_and_the_probes_are_not():
    release = threading.Event()

    def busy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    application: Any = ThreadedWSGI(busy, workers=1, backlog=1)  # driven with plain dicts, as _application()

    async def burst() -> tuple[Any, ...]:
        held = [asyncio.create_task(_call(application, path)) for path in ("/running/", "/waiting/")]
        while application.admitted < 2:
            await asyncio.sleep(0.01)
        refused = await _call(application, "/refused/")
        probe = asyncio.create_task(_call(application, "/healthz"))
        release.set()
        return refused, await asyncio.gather(*held), await probe

    refused, served, probe = asyncio.run(burst())

    status, headers, body = refused
    assert (status, headers[b"retry-after"], headers[b"content-type"]) == (503, b"1", b"application/json")
    assert json.loads(body) == {"error": "overloaded", "message": "The service is busy; try again in a moment.",
                                "details": {"retry_after_seconds": 1}}
    assert [answer[::2] for answer in served] == [(200, b"/running/"), (200, b"/waiting/")]
    assert probe[::2] == (200, b"/healthz")
    assert application.admitted == 0


def test_a_request_that_waited_for_a_thread_past_the_queue_time_is_refused_before_any_of_its_work():
    release, ran = threading.Event(), []

    def busy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ran.append(environ["PATH_INFO"])
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    application: Any = ThreadedWSGI(busy, workers=1, backlog=2, queue_seconds=0.05)

    async def burst() -> tuple[Any, ...]:
        running = asyncio.create_task(_call(application, "/running/"))
        while not ran:
            await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(_call(application, path)) for path in ("/waiting/", "/healthz")]
        await asyncio.sleep(0.2)  # past the queue time, both still behind the running request
        release.set()
        return await running, *await asyncio.gather(*waiting)

    running, waited, probe = asyncio.run(burst())

    assert running[::2] == (200, b"/running/")
    assert (waited[0], waited[1][b"retry-after"], json.loads(waited[2])["error"]) == (503, b"1", "overloaded")
    assert probe[::2] == (200, b"/healthz")  # the probes wait as long as it takes
    assert ran == ["/running/", "/healthz"]
