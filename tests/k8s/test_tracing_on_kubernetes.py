"""One vote's trace on the cluster, as on `make run`'s platforms (tests/e2e/test_tracing.py): the gateway (nginx)
continues the client's `traceparent` and writes its trace id in its access line; the umbrella chart's Zipkin, asked
through the API server by the trace id of that line, holds vote-service's request span (the gateway's id as its
parent) with its SQL beneath, and polls-service's consumer applying the vote.cast in the same trace."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.e2e.test_tracing import (
    assert_consumer_applied,
    assert_request_and_sql,
    cast_a_vote,
    holds_consumer,
    holds_request_and_sql,
    traced_vote,
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
    sent: list[str] = []

    def traceparent() -> dict[str, str]:
        sent.append(sampled_traceparent())
        return {"traceparent": sent[-1]}

    with platform.client() as client:
        cast = cast_a_vote(client, "k8s-trace", traceparent)
    request_id = cast.headers["x-request-id"]
    vote = traced_vote(
        cast, wait_until(lambda: gateway_access_line(request_id), "the gateway's access line", timeout=60)
    )
    assert vote.trace_id == sent[-1].split("-")[1]

    def complete(spans: list[dict[str, Any]]) -> bool:
        return holds_request_and_sql(spans) and holds_consumer(spans)

    spans = zipkin_trace(vote.trace_id, complete, timeout=120, fetch=cluster_zipkin_trace)
    assert_request_and_sql(spans, vote)
    assert_consumer_applied(spans, vote)
