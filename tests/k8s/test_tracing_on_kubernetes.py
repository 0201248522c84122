"""One vote's trace on the cluster, as on `make run`'s platforms (tests/e2e/test_tracing.py): the gateway (nginx)
continues the client's `traceparent` and writes its trace id in its access line; the umbrella chart's Zipkin, asked
through the API server by the trace id of that line, holds vote-service's request span (the gateway's id as its
parent) with its SQL beneath, and polls-service's consumer applying the vote.cast in the same trace."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.e2e.conftest import eventually, register_and_login
from tests.e2e.test_tracing import (
    Vote,
    assert_consumer_applied,
    assert_request_and_sql,
    holds_consumer,
    holds_request_and_sql,
    zipkin_trace,
)
from tests.k8s.conftest import NAMESPACE, Platform, kubectl, wait_until


def sampled_traceparent() -> str:
    """A client's traceparent whose trace the gateway samples at any ratio above 0: it decides by the trace id's
    17th and 18th hex digits (gateway/gateway/edge.py), here 00."""
    trace_id = uuid.uuid4().hex[:16] + "00" + uuid.uuid4().hex[:14]
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


def gateway_access_line(request_id: str) -> dict[str, Any] | None:
    for line in kubectl("logs", "-l", "app.kubernetes.io/name=gateway", "--tail=-1", "--prefix=false").splitlines():
        if request_id in line and line.startswith("{"):
            entry: dict[str, Any] = json.loads(line)
            if entry.get("request_id") == request_id:
                return entry
    return None


def cluster_zipkin_trace(trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans in the platform release's Zipkin, through the API server's service proxy (what an
    operator's `kubectl port-forward` reaches too); none yet while Zipkin answers 404."""
    fetched = subprocess.run(
        [
            "kubectl",
            "get",
            "--raw",
            f"/api/v1/namespaces/{NAMESPACE}/services/polls-zipkin:http/proxy/api/v2/trace/{trace_id}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    spans: list[dict[str, Any]] = json.loads(fetched.stdout) if fetched.returncode == 0 else []
    return spans


def test_one_votes_trace_reaches_zipkin_from_the_gateway_to_polls_services_consumer(platform: Platform) -> None:
    traceparent = sampled_traceparent()
    with platform.client() as client:
        suffix = uuid.uuid4().hex[:6]
        owner = register_and_login(client, f"k8s-tracer-{suffix}")
        voter = register_and_login(client, f"k8s-traced-{suffix}")
        poll_id = client.post("/api/polls/", json={"question": "Traced on Kubernetes?"}, headers=owner).json()["id"]
        choice_id = client.post("/api/choices/", json={"poll_id": poll_id, "text": "Yes"}, headers=owner).json()["id"]
        cast = eventually(
            lambda: client.post(
                "/api/votes/",
                json={"poll_id": poll_id, "choice_id": choice_id},
                headers={**voter, "traceparent": traceparent},
            ),
            until=lambda r: r.status_code != 401,
        )
    assert cast.status_code == 201, cast.text
    request_id = cast.headers["x-request-id"]
    access = wait_until(lambda: gateway_access_line(request_id), "the gateway's access line", timeout=60)
    assert access["method"] == "POST" and access["path"] == "/api/votes/" and access["trace_flags"] == "01"
    assert access["trace_id"] == traceparent.split("-")[1]
    vote = Vote(str(cast.json()["id"]), request_id, access["trace_id"], access["span_id"])

    def complete(spans: list[dict[str, Any]]) -> bool:
        return holds_request_and_sql(spans) and holds_consumer(spans)

    spans = zipkin_trace(vote.trace_id, complete, timeout=120, fetch=cluster_zipkin_trace)
    assert_request_and_sql(spans, vote)
    assert_consumer_applied(spans, vote)
