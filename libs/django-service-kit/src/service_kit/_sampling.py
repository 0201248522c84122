"""The services' sampling: the sampler OTEL_TRACES_SAMPLER names, except that a query alone starts no trace, and
the two ways a request that is not sampled skips the instrumentations' work (``_requests`` for Django's).

Imported only when tracing is on (``service_kit.tracing``): it needs the ``[tracing]`` extra's SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class WithoutLoneQueries(Sampler):
    """``inner``'s decision, except for a client span (SQL, an outgoing HTTP call) with neither parent nor link:
    a relay's outbox poll or a migration's queries, thousands a minute, each of which would be a trace alone."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT and not links and not get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"WithoutLoneQueries{{{self.inner.get_description()}}}"


class ChildrenOfRecordedSpans(trace.TracerProvider):
    """The tracer provider of the client instrumentations (psycopg's, httpx's): their spans are made only as
    children of a span being recorded.

    Given the global provider, the contrib instrumentations start a span around every query and call whatever
    its parent, ask the sampler, make and attach a non-recording span and detach it, on every one of a request's
    queries; a request whose trace is not sampled paid that for nothing. Here, under a parent that is not
    recorded (a request not sampled, or none at all), the span is that parent itself, current already: nothing
    is made or attached, and an outgoing call still carries the request's ``traceparent`` (the instrumentation
    injects the current context), so the service it calls follows the same decision."""

    def __init__(self, inner: trace.TracerProvider) -> None:
        self.inner = inner

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return _ChildrenOfRecordedSpans(self.inner.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes))


class _ChildrenOfRecordedSpans(trace.Tracer):
    def __init__(self, inner: trace.Tracer) -> None:
        self.inner = inner

    def start_span(self, name: str, context: Context | None = None, *args: Any, **kwargs: Any) -> trace.Span:
        parent = get_current_span(context)
        if not parent.is_recording():
            return parent
        return self.inner.start_span(name, context, *args, **kwargs)

    def start_as_current_span(  # a plain context manager here, never a decorator
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        parent = get_current_span(context)
        if not parent.is_recording():
            return nullcontext(parent)
        return self.inner.start_as_current_span(name, context, *args, **kwargs)
