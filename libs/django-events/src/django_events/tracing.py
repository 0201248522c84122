"""OpenTelemetry traces across the outbox and the broker (the ``tracing`` extra; docs/tracing.md).

Only the OpenTelemetry API is imported: which SDK, exporter and sampler a process uses is its own choice. Without
the API installed, with no tracer provider set, or with ``DJANGO_EVENTS["TRACING"]`` off, ``tracer()`` answers
None after a global read and an ``isinstance``, and nothing else happens on the publish path.

The wire is W3C Trace Context: ``traceparent`` and ``tracestate``, as message headers on Kafka and RabbitMQ (what
OpenTelemetry's instrumentations of both read) and, in the CloudEvent itself, as the attributes of CloudEvents'
distributed tracing extension. Both carry the publishing span's context, its creation context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from importlib import metadata
from typing import TYPE_CHECKING, Any

from ._extras import DISTRIBUTION
from .conf import events_settings

if TYPE_CHECKING:
    from opentelemetry.trace import Link, Span, Tracer

    from .envelope import Event

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ModuleNotFoundError:  # the extra is not installed: tracing is off
    trace = None  # type: ignore[assignment]

# The W3C Trace Context fields, as header names and as CloudEvents extension attributes alike.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_FIELDS = (TRACEPARENT, TRACESTATE)
SCOPE = "django_events"

_propagator = TraceContextTextMapPropagator() if trace is not None else None
# (provider, its tracer): a provider's get_tracer builds a new Tracer on every call.
_tracers: tuple[object, Tracer] | None = None


def tracer() -> Tracer | None:
    """The library's tracer, or None when tracing is off (no API, no tracer provider set, or the setting)."""
    global _tracers
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)) or not events_settings.TRACING:
        return None
    if _tracers is None or _tracers[0] is not provider:
        _tracers = (provider, provider.get_tracer(SCOPE, _version()))
    return _tracers[1]


def _version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _message_attributes(operation: str, topic: str, event_id: str, event_type: str) -> dict[str, str]:
    """The attributes OpenTelemetry's messaging and CloudEvents conventions give a span about one message."""
    return {
        "messaging.system": str(events_settings.TRANSPORT),
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": topic,
        "messaging.message.id": event_id,
        "cloudevents.event_id": event_id,
        "cloudevents.event_type": event_type,
    }


def start_create(active: Tracer, event_type: str, topic: str, key: str, event_id: str) -> tuple[Span, dict[str, str]]:
    """The ``create`` span of one event (OpenTelemetry's messaging conventions: it gives a message sent in a batch
    a creation context of its own), child of the current span, and its context as W3C headers."""
    span = active.start_span(
        f"create {topic}",
        kind=trace.SpanKind.PRODUCER,
        attributes={**_message_attributes("create", topic, event_id, event_type), "django_events.key": key},
    )
    carrier: dict[str, str] = {}
    assert _propagator is not None
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return span, carrier


def headers_of(column: Mapping[str, str] | None) -> list[tuple[str, bytes]]:
    """The message headers of a row's ``trace_context`` (none for a row published without tracing)."""
    if not column:
        return []
    return [(name, str(column[name]).encode()) for name in TRACE_FIELDS if column.get(name)]


def sending(
    active: Tracer | None, topics: Sequence[str], contexts: Iterable[Mapping[str, str] | None]
) -> AbstractContextManager[Any]:
    """The relay's span around sending one batch: a new trace, LINKED to the publishing spans of its rows (one
    batch carries the events of many requests, so it cannot be the child of any one of them)."""
    if active is None:
        return nullcontext()
    links = [link for column in contexts if column and (link := _link(column)) is not None]
    destinations = sorted(set(topics))
    return active.start_as_current_span(
        f"send {destinations[0]}" if len(destinations) == 1 else "send",
        kind=trace.SpanKind.CLIENT,
        links=links,
        attributes={
            "messaging.system": str(events_settings.TRANSPORT),
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.batch.message_count": len(topics),
            **({"messaging.destination.name": destinations[0]} if len(destinations) == 1 else {}),
        },
    )


def unacknowledged(span: Span, errors: Sequence[str]) -> None:
    """Marks the batch's span failed when the broker did not take some of its messages (they are sent again)."""
    if errors:
        span.set_attribute("django_events.unacknowledged", len(errors))
        span.set_status(trace.Status(trace.StatusCode.ERROR, errors[0][:200]))


def _link(column: Mapping[str, str]) -> Link | None:
    assert _propagator is not None
    context = trace.get_current_span(_propagator.extract(dict(column))).get_span_context()
    return trace.Link(context) if context.is_valid else None


def received_context(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """The W3C trace context among a message's headers (they win over the CloudEvent's own attributes: an
    intermediary that continues the trace updates the protocol's headers, never the event)."""
    found = {}
    for name, value in headers:
        if name in TRACE_FIELDS:
            found[name] = value.decode(errors="replace")
    return found


def processing(active: Tracer | None, event: Event, subscriber: str) -> AbstractContextManager[Any]:
    """A live consumer applying ``event``: a ``process`` span, the CHILD of the span that published it (the
    messaging conventions' model for processing one message; the consumer's SQL and whatever the handler
    publishes join the publisher's trace). An event published without tracing starts a trace of its own."""
    if active is None:
        return nullcontext()
    assert _propagator is not None
    carrier = {name: value for name in TRACE_FIELDS if (value := getattr(event, name))}
    topic = event.topic
    return active.start_as_current_span(
        f"process {topic}",
        context=_propagator.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            **_message_attributes("process", topic, str(event.id), event.type),
            "messaging.consumer.group.name": str(events_settings.GROUP_ID),
            "cloudevents.event_source": event.source,
            "django_events.subscriber": subscriber,
        },
    )


def rebuilding(active: Tracer | None, projection: str) -> AbstractContextManager[Any]:
    """``events_rebuild``'s one span: a trace of its own. The replayed events are applied without spans, neither
    children of nor linked to their publishers' contexts, which ended long ago."""
    if active is None:
        return nullcontext()
    return active.start_as_current_span(f"rebuild {projection}", attributes={"django_events.projection": projection})
