"""service_kit.tracing: on only when the standard OTEL_* variables say so; log lines carry the current ids."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from service_kit.logging import JsonFormatter, RequestIdFilter
from service_kit.tracing import exporter_name

ZIPKIN = {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://zipkin:9411/api/v2/spans"}
OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    (ZIPKIN, "zipkin_json"),
    (OTLP, "otlp_proto_http"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp_proto_http"),
    ({**ZIPKIN, "OTEL_SDK_DISABLED": "true"}, None),
    ({"OTEL_TRACES_EXPORTER": "none"}, "none"),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}, None),
    # An exporter named without its address is off, not sent to a default localhost.
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, None),
    ({"OTEL_TRACES_EXPORTER": "otlp", **ZIPKIN}, None),
    ({"OTEL_TRACES_EXPORTER": "otlp", **OTLP}, "otlp_proto_http"),
    ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
])
def test_the_exporter_comes_from_the_standard_variables(environ: dict[str, str], expected: str | None) -> None:
    assert exporter_name(environ) == expected


def _line(message: str) -> dict[str, object]:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    RequestIdFilter(service="svc").filter(record)
    return dict(json.loads(JsonFormatter().format(record)))


def test_a_line_outside_any_span_has_null_ids() -> None:
    line = _line("outside")
    assert line["trace_id"] is None and line["span_id"] is None


def test_a_line_inside_a_span_carries_its_trace_and_span_ids() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = sdk.TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        line = _line("inside")
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}" and line["span_id"] == f"{context.span_id:016x}"


def test_lone_queries_start_no_trace_but_requests_and_their_queries_do() -> None:
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from service_kit._sampling import WithoutLoneQueries

    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=WithoutLoneQueries(TracerProvider().sampler))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("SELECT outbox", kind=SpanKind.CLIENT):
        pass
    with (tracer.start_as_current_span("POST /api/votes/", kind=SpanKind.SERVER),
          tracer.start_as_current_span("INSERT vote", kind=SpanKind.CLIENT)):
        pass
    assert sorted(span.name for span in exported.get_finished_spans()) == ["INSERT vote", "POST /api/votes/"]


@pytest.mark.parametrize(("path", "traced"), [
    ("/api/votes/", True),
    ("/api/polls/caf\u00e9/", True),  # Latin-1: the instrumentation records it
    ("/api/polls/\U000bb356`em/close/", False),  # past Latin-1: it cannot
    ("/api/votes/results/\u4350/", False),
    ("/healthz", False),
])
def test_paths_the_instrumentation_cannot_record_are_not_traced(path: str, traced: bool) -> None:
    pytest.importorskip("opentelemetry.util.http")
    from django.utils.encoding import iri_to_uri
    from opentelemetry.util.http import parse_excluded_urls

    from service_kit.tracing import excluded_urls

    url = iri_to_uri(f"http://testserver{path}")  # as the instrumentation matches it
    assert parse_excluded_urls(excluded_urls({})).url_disabled(url) is not traced
    if not traced and path != "/healthz":  # whatever the variables exclude
        assert parse_excluded_urls(excluded_urls({"OTEL_PYTHON_EXCLUDED_URLS": "/nothing"})).url_disabled(url)


def _recording_provider(ratio: float) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    from service_kit._sampling import WithoutLoneQueries

    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=WithoutLoneQueries(ParentBasedTraceIdRatio(ratio)))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider, exported


def test_client_spans_are_made_only_under_a_recorded_span() -> None:
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    from service_kit._sampling import ChildrenOfRecordedSpans

    provider, exported = _recording_provider(1.0)
    queries = ChildrenOfRecordedSpans(provider).get_tracer("psycopg")
    unsampled = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0)))
    with trace.use_span(unsampled), queries.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
        assert span is unsampled and trace.get_current_span() is unsampled  # the request's, for propagation
    with queries.start_as_current_span("SELECT outbox", kind=SpanKind.CLIENT) as span:
        assert not span.get_span_context().is_valid
    assert exported.get_finished_spans() == ()
    with (provider.get_tracer("django").start_as_current_span("POST /api/votes/", kind=SpanKind.SERVER),
          queries.start_as_current_span("INSERT", kind=SpanKind.CLIENT)):
        pass
    assert [span.name for span in exported.get_finished_spans()] == ["INSERT", "POST /api/votes/"]


@pytest.mark.parametrize(("traceparent", "contrib"), [
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", False),  # the gateway decided against it
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),
    (None, True),  # a root: the sampler decides on the id the SDK makes
    ("garbage", True),
])
def test_a_request_not_sampled_skips_the_django_instrumentation(
    monkeypatch: pytest.MonkeyPatch, rf: Any, traceparent: str | None, contrib: bool
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.django")
    from opentelemetry import trace
    from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware

    from service_kit._requests import SampledRequestsOnly

    provider, exported = _recording_provider(1.0)
    monkeypatch.setattr(SampledRequestsOnly, "sampler", None)
    SampledRequestsOnly.follow(provider)
    monkeypatch.setattr(_DjangoMiddleware, "__call__", lambda self, request: "contrib")
    seen = []

    def view(request: Any) -> str:
        seen.append(trace.get_current_span().get_span_context())
        return "view"

    headers = {"HTTP_TRACEPARENT": traceparent} if traceparent else {}
    answer = SampledRequestsOnly(view)(rf.post("/api/votes/", **headers))
    assert answer == ("contrib" if contrib else "view")
    if not contrib:
        (context,) = seen
        assert f"{context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c" and not context.trace_flags.sampled
        assert context.span_id not in (0, 0xB7AD6B7169203331)  # the service's own hop, as the SDK makes it
        assert trace.get_current_span() is trace.INVALID_SPAN and exported.get_finished_spans() == ()


def test_queries_are_traced_only_under_a_recorded_span() -> None:
    pytest.importorskip("opentelemetry.instrumentation.psycopg")
    import os

    import psycopg
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    from service_kit._queries import Instrumentor
    from service_kit._sampling import ChildrenOfRecordedSpans

    if not os.environ.get("DATABASE_URL"):
        pytest.skip("needs DATABASE_URL")
    provider, exported = _recording_provider(1.0)
    Instrumentor().instrument(tracer_provider=ChildrenOfRecordedSpans(provider))
    try:
        with psycopg.connect(os.environ["DATABASE_URL"]) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # no request around it
            unsampled = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0)))
            with trace.use_span(unsampled):
                cursor.execute("SELECT 2")
            assert exported.get_finished_spans() == ()
            with provider.get_tracer("django").start_as_current_span("POST /api/votes/", kind=SpanKind.SERVER):
                cursor.execute("SELECT 3")
                assert cursor.fetchone() == (3,)
    finally:
        Instrumentor().uninstrument()
    (query, request) = exported.get_finished_spans()
    assert (query.name, query.parent.span_id) == ("SELECT", request.context.span_id)
