"""The services' sampler: the one OTEL_TRACES_SAMPLER names, except that a query alone starts no trace.

Imported only when tracing is on (``service_kit.tracing``): it needs the ``[tracing]`` extra's SDK.
"""

from __future__ import annotations

from collections.abc import Sequence

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
