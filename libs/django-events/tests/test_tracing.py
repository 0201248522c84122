"""OpenTelemetry traces across the outbox and the broker, on real PostgreSQL, Kafka and RabbitMQ, recorded by the
SDK's in-memory exporter: one trace from a span around publish() through the relay to the consumer's applying;
the relay's batch span linked to the publishing spans; a rebuild that invents no traces; and nothing at all
without the extra or without a tracer provider."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once

import django_events
from django_events.models import OutboxEvent
from tests.conftest import consume_until, publish_raw, read_topic, relay_until_empty
from tests.testapp.models import Applied, NoteView

LIBRARY = Path(__file__).resolve().parent.parent


def _reset_global_provider() -> None:
    # OpenTelemetry sets its global provider once per process; its own tests reset it this way between tests.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """A tracer provider for this test only, exporting each ended span to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_global_provider()
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    _reset_global_provider()


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


def test_one_trace_from_a_span_around_publish_through_the_relay_to_the_consumer(live, spans, transport):
    topic = django_events.topic_for("tick.happened")
    with trace.get_tracer("test").start_as_current_span("POST /api/ticks/") as request, transaction.atomic():
        published = django_events.publish("tick.happened", key="k", data={"seq": 0})
    request_context = request.get_span_context()

    [create] = named(spans, "create ")
    assert create.name == f"create {topic}" and create.kind == SpanKind.PRODUCER
    assert create.parent is not None and create.parent.span_id == request_context.span_id
    assert create.context.trace_id == request_context.trace_id
    assert create.attributes is not None and create.attributes["messaging.system"] == transport
    assert create.attributes["messaging.message.id"] == str(published.id)
    traceparent = f"00-{create.context.trace_id:032x}-{create.context.span_id:016x}-{create.context.trace_flags:02x}"
    # The outbox row and the CloudEvent (the distributed tracing extension) hold the publishing span's context.
    row = OutboxEvent.objects.get(event_id=published.id)
    assert row.trace_context is not None and row.trace_context["traceparent"] == traceparent
    assert json.loads(row.payload)["traceparent"] == traceparent

    assert relay_until_empty() == 1
    [send] = named(spans, "send")
    assert send.kind == SpanKind.CLIENT and send.name == f"send {topic}"
    assert send.parent is None and send.context.trace_id != request_context.trace_id  # a batch has a trace of its own
    assert [link.context.span_id for link in send.links] == [create.context.span_id]
    assert send.attributes is not None and send.attributes["messaging.batch.message_count"] == 1
    [message] = read_topic(topic, 1)
    assert dict(message.headers)["traceparent"] == traceparent.encode()  # the W3C header on the wire

    consume_until(lambda: Applied.objects.filter(event_id=published.id).exists())
    [process] = named(spans, "process ")
    assert process.kind == SpanKind.CONSUMER and process.name == f"process {topic}"
    assert process.context.trace_id == request_context.trace_id
    assert process.parent is not None and process.parent.span_id == create.context.span_id
    assert process.attributes is not None and process.attributes["cloudevents.event_type"] == "tick.happened"
    assert str(process.attributes["django_events.subscriber"]).endswith("record_tick")


def test_the_consumer_continues_the_trace_the_cloudevent_carries_when_the_headers_do_not(live, spans):
    """A relay of the previous version sends no trace headers: the event's own distributed tracing extension
    still links the consumer to its publisher."""
    with trace.get_tracer("test").start_as_current_span("request"), transaction.atomic():
        published = django_events.publish("tick.happened", key="k", data={"seq": 0})
    [create] = named(spans, "create ")
    row = OutboxEvent.objects.get(event_id=published.id)
    publish_raw(row.topic, row.key.encode(), row.payload.encode())  # no headers at all

    consume_until(lambda: Applied.objects.filter(event_id=published.id).exists())
    [process] = named(spans, "process ")
    assert process.parent is not None and process.parent.span_id == create.context.span_id


def test_a_rebuild_invents_no_traces(live, spans):
    with trace.get_tracer("test").start_as_current_span("request") as request, transaction.atomic():
        for n in range(5):
            django_events.publish("note.created", key=f"n{n}", data={"note_id": f"n{n}", "text": f"note {n}"})
    relay_until_empty()
    consume_until(lambda: NoteView.objects.count() == 5)
    assert len(named(spans, "process ")) == 5
    spans.clear()

    call_command("events_rebuild", "NoteProjection")

    assert NoteView.objects.count() == 5
    [rebuild] = spans.get_finished_spans()  # one span of its own, and none for the replayed events
    assert rebuild.name == "rebuild NoteProjection" and rebuild.parent is None and not rebuild.links
    assert rebuild.context.trace_id != request.get_span_context().trace_id


def test_without_a_tracer_provider_nothing_changes(live, transport):
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    with transaction.atomic():
        published = django_events.publish("tick.happened", key="k", data={"seq": 0})

    row = OutboxEvent.objects.get(event_id=published.id)
    assert row.trace_context is None and "traceparent" not in json.loads(row.payload)
    relay_until_empty()
    [message] = read_topic(django_events.topic_for("tick.happened"), 1)
    assert {name for name, _ in message.headers} == {"event_id", "event_type", "event_version", "content-type"}
    consume_until(lambda: Applied.objects.filter(event_id=published.id).exists())


def test_the_tracing_setting_turns_it_off_under_a_tracer_provider(db, spans, settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "TRACING": False}
    with trace.get_tracer("test").start_as_current_span("request"), transaction.atomic():
        published = django_events.publish("tick.happened", key="k", data={"seq": 0})

    assert OutboxEvent.objects.get(event_id=published.id).trace_context is None
    assert [span.name for span in spans.get_finished_spans()] == ["request"]


WITHOUT_THE_EXTRA = """
import sys

sys.modules["opentelemetry"] = None  # import opentelemetry now raises ModuleNotFoundError, as if never installed

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django_events"], DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    DJANGO_EVENTS={"SERVICE": "shop"}, USE_TZ=True,
)
django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)
import django_events
from django_events.models import OutboxEvent
from django_events.tracing import tracer

event = django_events.publish("tick.happened", key="k", data={"seq": 0})
row = OutboxEvent.objects.get()
print(tracer(), row.trace_context, "traceparent" in row.payload, event.traceparent)
"""


def test_without_the_extra_publishing_is_unchanged():
    result = subprocess.run([sys.executable, "-c", WITHOUT_THE_EXTRA], cwd=LIBRARY, capture_output=True, text=True,
                            timeout=300)

    assert result.stdout.split() == ["None", "None", "False", "None"], result.stderr
