"""The trace starts at the door: both gateways continue a client's valid W3C traceparent, mint one otherwise,
decide sampling the same way for the same trace id, and log the trace id in their access log."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from gateway import edge
from gateway.nginx import render
from gateway.table import load
from tests.conftest import Gateway, _start, _stop

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])")
# Half the traces sampled: trace ids whose 17th-18th hex digits are below 0x80.
RATIO = 0.5


@pytest.fixture(scope="module")
def gateway(kind: str, services: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = _start(kind, services, tmp_path_factory.mktemp(kind), {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(RATIO)})
    yield running
    _stop(running)


def sent_on(gateway: Gateway, headers: dict[str, str], request_id: str) -> tuple[dict[str, str], dict[str, object]]:
    """The headers the service saw and the gateway's access log entry for one request."""
    logged_before = sum(1 for line in gateway.access_log_lines() if f'"{request_id}"' in line)
    with gateway.client() as client:
        seen = client.get("/api/polls/", headers={**headers, "X-Request-ID": request_id}).json()["headers"]
    deadline = time.monotonic() + 10  # the line is written once the response has left
    while True:
        entries = [entry for entry in map(json.loads, gateway.access_log_lines()) if entry["request_id"] == request_id]
        if len(entries) > logged_before or time.monotonic() > deadline:
            return seen, entries[-1] if entries else {}
        time.sleep(0.05)


def test_a_request_without_a_traceparent_starts_a_trace_whose_id_is_logged(gateway: Gateway) -> None:
    seen, logged = sent_on(gateway, {}, "trace-minted")
    parsed = TRACEPARENT.fullmatch(seen["traceparent"])
    assert parsed, seen["traceparent"]
    trace_id, parent_id, flags = parsed.groups()
    assert int(trace_id, 16) and int(parent_id, 16)
    assert (logged["trace_id"], logged["span_id"], logged["trace_flags"]) == (trace_id, parent_id, flags)
    assert "tracestate" not in seen


def test_two_requests_get_two_traces(gateway: Gateway) -> None:
    first, _ = sent_on(gateway, {}, "trace-one")
    second, _ = sent_on(gateway, {}, "trace-two")
    assert first["traceparent"][3:35] != second["traceparent"][3:35]


@pytest.mark.parametrize("low_half", ["7f00000000000000", "8000000000000000"])
def test_a_valid_traceparent_is_continued_with_the_gateways_sampling_decision(gateway: Gateway, low_half: str) -> None:
    trace_id, parent_id = "4bf92f3577b34da6" + low_half, "00f067aa0ba902b7"
    # The client asks for sampling either way: the flags are the gateway's, by the trace id alone.
    seen, logged = sent_on(gateway, {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=x"},
                           f"trace-kept-{low_half[:2]}")
    expected = "01" if low_half < "80" else "00"
    assert seen["traceparent"] == f"00-{trace_id}-{parent_id}-{expected}"
    assert seen["tracestate"] == "vendor=x"
    assert (logged["trace_id"], logged["span_id"], logged["trace_flags"]) == (trace_id, parent_id, expected)


INVALID = [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "not a traceparent",
]


@pytest.mark.parametrize("offered", INVALID)
def test_an_invalid_traceparent_is_replaced_and_its_tracestate_dropped(gateway: Gateway, offered: str) -> None:
    seen, logged = sent_on(gateway, {"traceparent": offered, "tracestate": "vendor=x"}, "trace-invalid")
    assert TRACEPARENT.fullmatch(seen["traceparent"]) and seen["traceparent"][3:35] != offered[3:35].lower()
    assert logged["trace_id"] == seen["traceparent"][3:35]
    assert "tracestate" not in seen


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_nginx_samples_exactly_the_trace_ids_the_dev_gateway_samples(ratio: float) -> None:
    config = render(load(), sample_ratio=ratio)
    block = config[config.index("map $edge_trace_id $edge_trace_flags {"):]
    block = block[:block.index("}\n")]
    pattern = re.search(r'"~(.+)" 01;', block)
    default = re.search(r"default (0[01]);", block)
    assert default
    for value in range(256):
        trace_id = "4bf92f3577b34da6" + f"{value:02x}" + "a3ce929d0e0e47"
        by_nginx = "01" if pattern and re.search(pattern[1], trace_id) else default[1]
        assert by_nginx == edge.trace_context(f"00-{trace_id}-00f067aa0ba902b7-01", ratio)[2], trace_id


@pytest.mark.parametrize(("environ", "ratio"), [
    ({}, 1.0),
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, 0.1),
    ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0),
    ({"OTEL_SDK_DISABLED": "true"}, 0.0),
])
def test_the_sampling_ratio_comes_from_the_standard_variables(environ: dict[str, str], ratio: float) -> None:
    assert edge.sample_ratio(environ) == ratio


def test_an_unknown_sampler_is_refused() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER"):
        edge.sample_ratio({"OTEL_TRACES_SAMPLER": "jaeger_remote"})
