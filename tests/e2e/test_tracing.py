"""One vote followed by its trace id: the gateway's access line, vote-service's line and polls-service's consumer
line carry the same `trace_id` on every platform (with or without a viewer), and, where the spans go to the
Zipkin of `make infra-up`, Zipkin's API holds one trace with the gateway's span id as the parent of
vote-service's request span, its SQL beneath, and polls-service's span applying the vote.cast.
TRACE_SCREENSHOT=<png> saves Chromium's view of that trace in Zipkin's UI there (`make docs-trace-screenshot`)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform, eventually, register_and_login

ZIPKIN_URL = os.environ.get("ZIPKIN_URL", "")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


@dataclass
class Vote:
    vote_id: str
    request_id: str
    trace_id: str
    gateway_span_id: str


def log_entries(platform: Platform, process: str) -> list[dict[str, Any]]:
    """The JSON lines `process` wrote to the run's log (each prefixed `<process> | `)."""
    entries = []
    for line in platform.log.read_text(errors="replace").splitlines():
        name, separator, rest = line.partition(" | ")
        if separator and name.strip() == process and rest.startswith("{"):
            try:
                entries.append(json.loads(rest))
            except json.JSONDecodeError:
                continue
    return entries


def wait_for_entry(platform: Platform, process: str, matches: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in log_entries(platform, process) if matches(entry)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no such line of {process} in {platform.log}"
        time.sleep(0.5)


def cast_a_vote(client: httpx.Client, who: str, headers: Callable[[], dict[str, str]] = dict) -> httpx.Response:
    """A vote through the gateway by a new user, in a poll another new user made (retried while vote-service does
    not know the voter yet), each attempt sent with extra headers of its own: a retry that reused a client's
    traceparent would put the refused attempts' spans in the vote's trace."""
    suffix = uuid.uuid4().hex[:6]
    owner = register_and_login(client, f"{who}r-{suffix}")
    voter = register_and_login(client, f"{who}d-{suffix}")
    poll_id = client.post("/api/polls/", json={"question": "Traced?"}, headers=owner).json()["id"]
    choice_id = client.post("/api/choices/", json={"poll_id": poll_id, "text": "Yes"}, headers=owner).json()["id"]
    cast: httpx.Response = eventually(
        lambda: client.post(
            "/api/votes/", json={"poll_id": poll_id, "choice_id": choice_id}, headers={**voter, **headers()}
        ),
        until=lambda r: r.status_code != 401,
    )
    assert cast.status_code == 201, cast.text
    return cast


def traced_vote(cast: httpx.Response, access: dict[str, Any]) -> Vote:
    """The vote as the gateway's access line for it names its trace: sampled, the span id it handed on."""
    assert access["method"] == "POST" and access["path"] == "/api/votes/" and access["trace_flags"] == "01"
    return Vote(str(cast.json()["id"]), cast.headers["x-request-id"], access["trace_id"], access["span_id"])


@pytest.fixture(scope="module")
def vote(platform: Platform) -> Vote:
    with platform.client() as client:
        cast = cast_a_vote(client, "trace")
    request_id = cast.headers["x-request-id"]
    return traced_vote(cast, wait_for_entry(platform, "gateway", lambda entry: entry.get("request_id") == request_id))


def test_vote_services_line_for_the_vote_carries_the_gateways_trace_id(platform: Platform, vote: Vote) -> None:
    line = wait_for_entry(platform, "vote-web", lambda entry: vote.vote_id in entry.get("message", ""))
    assert line["trace_id"] == vote.trace_id
    assert line["span_id"] and line["span_id"] != vote.gateway_span_id
    assert line["request_id"] == vote.request_id


def test_polls_services_consumer_line_for_the_vote_carries_the_same_trace_id(platform: Platform, vote: Vote) -> None:
    line = wait_for_entry(platform, "polls-consumer", lambda entry: vote.vote_id in entry.get("message", ""))
    assert line["trace_id"] == vote.trace_id


def zipkin_url_trace(trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans as the Zipkin of ZIPKIN_URL holds them so far."""
    answer = httpx.get(f"{ZIPKIN_URL}/api/v2/trace/{trace_id}", timeout=10)
    spans: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
    return spans


def zipkin_trace(
    trace_id: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 60,
    fetch: Callable[[str], list[dict[str, Any]]] = zipkin_url_trace,
) -> list[dict[str, Any]]:
    """The trace's spans once `until` holds for them (spans arrive in batches), or what there is at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        spans = fetch(trace_id)
        if until(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def with_viewer(platform: Platform) -> None:
    if not ZIPKIN_URL:
        pytest.skip("needs the Zipkin of `make infra-up` (ZIPKIN_URL)")
    if platform.events_env["EVENTS_TRANSPORT"] == "embedded":
        pytest.skip("`make run` from a clean clone has no trace viewer: its logs are the test above")


# What one vote's trace holds, checked here on `make run`'s platforms and by tests/k8s on the cluster.
def holds_request_and_sql(spans: list[dict[str, Any]]) -> bool:
    kinds = {(span["localEndpoint"]["serviceName"], span.get("kind")) for span in spans}
    return {("vote-service", "SERVER"), ("vote-service", "CLIENT")} <= kinds


def assert_request_and_sql(spans: list[dict[str, Any]], vote: Vote) -> None:
    assert holds_request_and_sql(spans), json.dumps(spans, indent=1)[:4000]
    assert {span["traceId"] for span in spans} == {vote.trace_id}
    [request] = [s for s in spans if s["localEndpoint"]["serviceName"] == "vote-service" and s.get("kind") == "SERVER"]
    # nginx and the dev gateway report no span of their own: the id they handed on is the request span's parent.
    assert request["parentId"] == vote.gateway_span_id
    assert request["tags"].get("http.request.method", request["tags"].get("http.method")) == "POST"
    sql = [s for s in spans if s["localEndpoint"]["serviceName"] == "vote-service" and s.get("kind") == "CLIENT"]
    # Each query under the request, or under vote-service's own consumer where it also applies vote.* (while the
    # votes seam moves, MIGRATING_FROM: tests/k8s runs the strangler path before this).
    consumers = {
        s["id"] for s in spans if s["localEndpoint"]["serviceName"] == "vote-service" and s.get("kind") == "CONSUMER"
    }
    assert {s["parentId"] for s in sql} <= {request["id"], *consumers}
    assert any(s["name"].lower() == "insert" and s["parentId"] == request["id"] for s in sql)


def holds_consumer(spans: list[dict[str, Any]]) -> bool:
    return any(s["localEndpoint"]["serviceName"] == "polls-service" and s.get("kind") == "CONSUMER" for s in spans)


def assert_consumer_applied(spans: list[dict[str, Any]], vote: Vote) -> None:
    assert holds_consumer(spans), json.dumps(spans, indent=1)[:4000]
    by_id = {span["id"]: span for span in spans}
    [applied] = [
        s for s in spans if s["localEndpoint"]["serviceName"] == "polls-service" and s.get("kind") == "CONSUMER"
    ]
    assert applied["tags"]["cloudevents.event_type"] == "vote.cast"
    # The child of the event's `create` span, itself a child of the POST's request span. (The tally's SQL is the
    # consumer batch's, written once for all its events, so in no event's trace: django-events' docs/tracing.md.)
    created = by_id[applied["parentId"]]
    assert created["kind"] == "PRODUCER" and created["localEndpoint"]["serviceName"] == "vote-service"
    request = by_id[created["parentId"]]
    assert request["kind"] == "SERVER" and request["parentId"] == vote.gateway_span_id


def test_zipkin_holds_the_votes_trace_from_the_gateway_to_vote_services_sql(platform: Platform, vote: Vote) -> None:
    with_viewer(platform)
    assert_request_and_sql(zipkin_trace(vote.trace_id, holds_request_and_sql), vote)


def test_zipkin_holds_polls_services_consumer_applying_the_vote_in_the_same_trace(
    platform: Platform, vote: Vote
) -> None:
    with_viewer(platform)
    assert_consumer_applied(zipkin_trace(vote.trace_id, holds_consumer), vote)


def test_the_trace_in_zipkins_ui_in_headless_chromium(platform: Platform, vote: Vote) -> None:
    with_viewer(platform)
    if platform.events_env["EVENTS_TRANSPORT"] != "kafka":
        pytest.skip("Zipkin's UI draws the same trace whatever the broker: shown once, on Kafka, to spare CI time")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    zipkin_trace(vote.trace_id, lambda spans: len({s["localEndpoint"]["serviceName"] for s in spans}) >= 2)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(f"{ZIPKIN_URL}/zipkin/traces/{vote.trace_id}")
        WebDriverWait(driver, 60).until(lambda d: "vote-service" in d.find_element(By.TAG_NAME, "body").text)
        time.sleep(1)  # the timeline finishes drawing
        target = Path(os.environ.get("TRACE_SCREENSHOT") or platform.log.with_name("vote-trace.png"))
        target.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(target))
    finally:
        driver.quit()
