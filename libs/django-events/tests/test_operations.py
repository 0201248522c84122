"""Readiness, the correlation-id middleware, retention purges and the backlog metrics."""

import socket
import uuid
from datetime import timedelta

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils import timezone

import django_events
from django_events.consumer import Consumer
from django_events.health import readiness
from django_events.metrics import outbox_backlog, outbox_oldest_age
from django_events.middleware import CorrelationIdMiddleware
from django_events.models import InboxEvent, OutboxEvent
from django_events.relay import purge_sent, update_backlog_metrics

pytestmark = pytest.mark.django_db


def test_readiness_is_true_with_the_real_database_and_broker(settings, kafka_bootstrap_servers):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "BOOTSTRAP_SERVERS": kafka_bootstrap_servers}

    ready, details = readiness()

    assert ready, details
    assert details["database"] == "ok" and details["broker"].endswith("broker(s)")


def test_readiness_is_false_with_details_when_the_broker_is_unreachable(settings):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "BOOTSTRAP_SERVERS": dead}

    ready, details = readiness(timeout=1.0)

    assert not ready
    assert details["database"] == "ok"
    assert details["broker"].startswith("KafkaException")


def test_readiness_on_rabbitmq_is_true_with_the_real_broker_and_false_with_details_without_one(settings, rabbitmq_url):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "TRANSPORT": "rabbitmq", "RABBITMQ_URL": rabbitmq_url}
    ready, details = readiness()
    assert ready, details

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"amqp://guest:guest@127.0.0.1:{probe.getsockname()[1]}/%2F"
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "RABBITMQ_URL": dead}
    ready, details = readiness(timeout=1.0)
    assert not ready and details["database"] == "ok"
    assert details["broker"].startswith("AMQPConnectionError")


def respond_with_correlation_id(header: str | None) -> tuple[str | None, HttpResponse]:
    seen = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(django_events.current_correlation_id())
        return HttpResponse("ok")

    headers = {} if header is None else {"X-Request-ID": header}
    response = CorrelationIdMiddleware(view)(RequestFactory().get("/", headers=headers))
    assert isinstance(response, HttpResponse)  # a synchronous view: not awaited
    return seen[0], response


def test_a_sane_request_id_becomes_the_correlation_id_and_is_echoed():
    correlation_id, response = respond_with_correlation_id("gw-1234.abc_DEF")

    assert correlation_id == "gw-1234.abc_DEF"
    assert response["X-Request-ID"] == "gw-1234.abc_DEF"
    assert django_events.current_correlation_id() is None  # the request's context ended with it


@pytest.mark.parametrize("insane", ["", "has space", "x" * 129, "<script>", "a\u00e9", "id;DROP"])
def test_a_missing_or_insane_request_id_is_replaced_by_a_fresh_one_and_echoed(insane):
    correlation_id, response = respond_with_correlation_id(insane or None)

    assert correlation_id != insane and uuid.UUID(correlation_id)
    assert response["X-Request-ID"] == correlation_id


def outbox_row(*, created_ago: float, sent_ago: float | None) -> OutboxEvent:
    now = timezone.now()
    return OutboxEvent.objects.create(
        event_id=uuid.uuid4(), event_type="tick.happened", topic="tick", key="k", shard=0, payload="{}",
        created_at=now - timedelta(seconds=created_ago),
        sent_at=None if sent_ago is None else now - timedelta(seconds=sent_ago),
    )


def test_sent_outbox_rows_are_purged_after_the_retention_and_unsent_ones_never(settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OUTBOX_RETENTION": 3600}
    expired = outbox_row(created_ago=7300, sent_ago=7200)
    recent = outbox_row(created_ago=100, sent_ago=60)
    old_unsent = outbox_row(created_ago=90_000, sent_ago=None)

    assert purge_sent("default") == 1

    assert set(OutboxEvent.objects.values_list("seq", flat=True)) == {recent.seq, old_unsent.seq}
    assert expired.seq not in set(OutboxEvent.objects.values_list("seq", flat=True))


def test_backlog_metrics_count_unsent_rows_and_the_age_of_the_oldest():
    outbox_row(created_ago=300, sent_ago=200)
    outbox_row(created_ago=120, sent_ago=None)
    outbox_row(created_ago=5, sent_ago=None)

    update_backlog_metrics("default")

    assert outbox_backlog.labels("testapp")._value.get() == 2
    assert 120 <= outbox_oldest_age.labels("testapp")._value.get() < 130

    OutboxEvent.objects.update(sent_at=timezone.now())
    update_backlog_metrics("default")
    assert outbox_backlog.labels("testapp")._value.get() == 0
    assert outbox_oldest_age.labels("testapp")._value.get() == 0


def test_inbox_rows_are_purged_after_their_retention(settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "INBOX_RETENTION": 3600}
    old = InboxEvent.objects.create(subscriber="s", event_id=uuid.uuid4(), processed_at=timezone.now() - timedelta(hours=2))
    fresh = InboxEvent.objects.create(subscriber="s", event_id=uuid.uuid4())

    Consumer(subscribers=[])._housekeeping()

    assert list(InboxEvent.objects.values_list("id", flat=True)) == [fresh.id]
    assert old.id != fresh.id
