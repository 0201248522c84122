"""The real path: poll events through the outbox, the relay, Kafka and the consumer into PollView."""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import django_events
import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django_events.conf import events_settings
from django_events.consumer import Consumer
from django_events.relay import Relay
from event_contracts.payloads import PollCreated, PollDeleted

from choices.models import Choice, PollView
from choices.tests.factories import a_choice

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = str(uuid.uuid4())


def published_as_polls_service(payload: django_events.Payload, *, key: str) -> None:
    """Under polls-service's name, the owner of poll.*: the consumer refuses poll events from any other source."""
    events = {**settings.DJANGO_EVENTS, "SERVICE": "polls-service", "GROUP_ID": events_settings.GROUP_ID}
    with override_settings(DJANGO_EVENTS=events), transaction.atomic():
        django_events.publish(payload, key=key)
    relay = Relay()
    while relay.send_batch():
        pass


def consume_until(consumer: Consumer, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        consumer.poll_once(0.2)


def test_a_poll_is_known_after_its_events_cross_kafka_and_its_deletion_removes_its_choices(isolated_topics):
    poll_id = str(uuid.uuid4())
    consumer = Consumer()
    try:
        created = PollCreated(
            poll_id=uuid.UUID(poll_id), question="?", owner_id=OWNER, status="open", closes_at=None,
            created_at=datetime(2026, 11, 24, tzinfo=UTC),
        )
        published_as_polls_service(created, key=poll_id)
        consume_until(consumer, lambda: PollView.objects.filter(pk=poll_id).exists())
        a_choice(poll_id=uuid.UUID(poll_id), owner_id=OWNER)

        published_as_polls_service(PollDeleted(poll_id=uuid.UUID(poll_id)), key=poll_id)
        consume_until(consumer, lambda: not Choice.objects.exists())
    finally:
        consumer.close()

    assert not PollView.objects.filter(pk=poll_id).exists()
