import json
import uuid

import pytest
from django.db import transaction

import django_events
from django_events.models import OutboxEvent
from django_events.testing import captured_events

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rolled_back_transaction_publishes_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": "hi"})
        raise RuntimeError("the change failed")

    assert not OutboxEvent.objects.exists()


def test_a_committed_event_waits_in_the_outbox_as_an_envelope():
    with transaction.atomic():
        event = django_events.publish("note.created", key="n1", data={"note_id": "n1", "at": uuid.UUID(int=1)}, version=2)

    row = OutboxEvent.objects.get()
    assert row.sent_at is None
    assert (row.topic, row.key, row.event_type, row.event_version) == ("note", "n1", "note.created", 2)
    body = json.loads(row.payload)
    assert body == {
        "id": str(event.id),
        "type": "note.created",
        "version": 2,
        "occurred_at": event.occurred_at.isoformat(),
        "source": "testapp",
        "key": "n1",
        "data": {"note_id": "n1", "at": str(uuid.UUID(int=1))},
        "correlation_id": None,
    }
    assert django_events.Event.from_json(row.payload).id == event.id


def test_events_carry_the_correlation_id_of_their_context():
    with django_events.correlation("request-42"), captured_events() as events:
        django_events.publish("note.created", key="n1", data={})

    assert events[0].correlation_id == "request-42"


def test_data_must_be_a_json_object():
    with pytest.raises(TypeError):
        django_events.publish("note.created", key="n1", data=["not", "an", "object"])


def test_captured_events_reflect_rollbacks():
    with captured_events() as events:
        django_events.publish("note.created", key="kept", data={})
        with pytest.raises(ValueError), transaction.atomic():
            django_events.publish("note.created", key="rolled-back", data={})
            raise ValueError

    assert [e.key for e in events] == ["kept"]


NOT_AN_OBJECT = b'{"id": "%s", "type": "a.b", "version": 1, "occurred_at": "2026-01-01T00:00:00+00:00", "key": "k", "data": []}'


@pytest.mark.parametrize("raw", [b"", b"{", b'{"id": "x"}', NOT_AN_OBJECT % str(uuid.uuid4()).encode()])
def test_a_malformed_envelope_is_rejected_clearly(raw):
    with pytest.raises(django_events.InvalidEvent, match="not an event envelope"):
        django_events.Event.from_json(raw)
