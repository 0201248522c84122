"""The Django instrumentation's middleware, for the requests that may be recorded only.

Imported only when tracing is on (``service_kit.tracing``): it needs the ``[tracing]`` extra.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

UNSAMPLED = "service-kit.tracing.unsampled"


class SampledRequestsOnly(_DjangoMiddleware):
    """The contrib middleware, except for a request whose ``traceparent`` the sampler will not record (with
    ``parentbased_*``: the gateway decided against it). The contrib middleware would make that request a
    non-recording span all the same, after collecting its attributes, resolving its route for a name, building
    its absolute URL thrice and preparing its metrics' attributes (no meter provider is set: they go nowhere),
    none of which anyone sees. Such a request gets only what is seen of it: the context the SDK would have made
    it, current while it runs (a new span id in the caller's trace, not sampled), which its log lines, its
    events (the outbox's ``traceparent``) and its outgoing calls carry."""

    sampler: Sampler | None = None
    ids: IdGenerator | None = None

    @classmethod
    def follow(cls, provider: TracerProvider) -> None:
        cls.sampler, cls.ids = provider.sampler, provider.id_generator

    def __call__(self, request: HttpRequest) -> HttpResponse:
        unsampled = self._unsampled(request)
        if unsampled is None:
            return super().__call__(request)  # type: ignore[no-untyped-call,no-any-return]
        request.META[UNSAMPLED] = True
        token = attach(unsampled)
        try:
            response = self.get_response(request)
            if (propagator := get_global_response_propagator()) is not None:  # type: ignore[no-untyped-call]
                propagator.inject(response)
            return response  # type: ignore[no-any-return]
        finally:
            detach(token)

    def _unsampled(self, request: HttpRequest) -> Context | None:
        """The context holding the span the SDK would make the request if its sampler drops it, else None (then
        the contrib middleware runs)."""
        if self.sampler is None or self.ids is None or trace.get_current_span() is not trace.INVALID_SPAN:
            return None
        if "HTTP_TRACEPARENT" not in request.META:  # a root: the sampler decides on an id the SDK makes
            return None
        context = extract(request.META, getter=wsgi_getter)
        parent = trace.get_current_span(context).get_span_context()
        if not parent.is_valid:
            return None
        sampled = self.sampler.should_sample(context, parent.trace_id, "HTTP", SpanKind.SERVER)
        if sampled.decision is not Decision.DROP:
            return None
        # As the SDK's Tracer.start_span makes a span its sampler drops.
        span = NonRecordingSpan(SpanContext(parent.trace_id, self.ids.generate_span_id(), is_remote=False,
                                            trace_flags=TraceFlags(TraceFlags.DEFAULT), trace_state=sampled.trace_state))
        return trace.set_span_in_context(span, context)

    def process_view(self, request: HttpRequest, view_func: Any, *args: Any, **kwargs: Any) -> None:
        if UNSAMPLED not in request.META:
            super().process_view(request, view_func, *args, **kwargs)  # type: ignore[no-untyped-call]

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if UNSAMPLED not in request.META:
            super().process_exception(request, exception)  # type: ignore[no-untyped-call]


class Instrumentor(DjangoInstrumentor):
    """The contrib instrumentor, installing :class:`SampledRequestsOnly` as its middleware."""

    _opentelemetry_middleware = f"{SampledRequestsOnly.__module__}.{SampledRequestsOnly.__qualname__}"
