import dataclasses
import json
import uuid
from pathlib import Path

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


def test_a_committed_event_waits_in_the_outbox_as_a_cloudevent_that_a_0_1_consumer_reads_too():
    with transaction.atomic():
        event = django_events.publish("note.created", key="n1", data={"note_id": "n1", "at": uuid.UUID(int=1)}, version=2)

    row = OutboxEvent.objects.get()
    assert row.sent_at is None
    assert (row.topic, row.key, row.event_type, row.event_version) == ("note", "n1", "note.created", 2)
    assert row.payload.startswith('{"specversion":"1.0",')
    body = json.loads(row.payload)
    cloudevent = {
        "specversion": "1.0",
        "id": str(event.id),
        "source": "testapp",
        "type": "note.created",
        "time": event.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "partitionkey": "n1",
        "eventversion": 2,
        "data": {"note_id": "n1", "at": str(uuid.UUID(int=1))},
    }
    envelope_0_1 = {"version": 2, "occurred_at": event.occurred_at.isoformat(), "key": "n1", "correlation_id": None}
    assert body == cloudevent | envelope_0_1
    assert django_events.Event.from_json(row.payload) == dataclasses.replace(event, data=body["data"])


def test_without_the_legacy_envelope_an_event_is_a_cloudevent_alone_naming_its_contract(settings):
    contracts = Path(__file__).parent / "contracts"
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "LEGACY_ENVELOPE": False, "CONTRACTS": str(contracts)}
    with django_events.correlation("request-7"), transaction.atomic():
        event = django_events.publish("note.created", key="n1", data={"note_id": "n1"})

    body = json.loads(OutboxEvent.objects.get().payload)
    assert set(body) == {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema",
                         "partitionkey", "eventversion", "correlationid", "data"}
    assert all(name.isalnum() and name.islower() for name in body), "CloudEvents attribute names"
    assert body["correlationid"] == "request-7"
    assert body["dataschema"] == json.loads((contracts / "note.created" / "v1.json").read_text())["$id"]
    assert django_events.Event.from_json(json.dumps(body)) == event


def test_an_event_of_django_events_0_1_still_reads():
    envelope_0_1 = {"id": str(uuid.UUID(int=5)), "type": "note.created", "version": 3,
                    "occurred_at": "2026-01-02T03:04:05.000006+00:00", "source": "testapp", "key": "n9",
                    "data": {"note_id": "n9"}, "correlation_id": "c-1"}

    event = django_events.Event.from_json(json.dumps(envelope_0_1))

    assert (event.id, event.type, event.version, event.key, event.source, event.correlation_id, event.data) == (
        uuid.UUID(int=5), "note.created", 3, "n9", "testapp", "c-1", {"note_id": "n9"}
    )
    assert event.occurred_at.isoformat() == envelope_0_1["occurred_at"]


def test_a_cloudevent_of_another_specversion_is_not_an_event():
    with pytest.raises(django_events.InvalidEvent, match="specversion"):
        django_events.Event.from_json(json.dumps({"specversion": "0.3", "id": str(uuid.UUID(int=1)), "type": "t",
                                                  "source": "s", "time": "2026-01-01T00:00:00+00:00",
                                                  "partitionkey": "k", "data": {}}))


def test_events_carry_the_correlation_id_of_their_context():
    with django_events.correlation("request-42"), captured_events() as events:
        django_events.publish("note.created", key="n1", data={})

    assert events[0].correlation_id == "request-42"


def test_data_must_be_a_json_object():
    with pytest.raises(TypeError):
        # What the type checker refuses is refused at run time too, for callers it does not check.
        django_events.publish("note.created", key="n1", data=["not", "an", "object"])  # type: ignore[arg-type]


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


@dataclasses.dataclass(frozen=True)
class NoteCreated(django_events.Payload, type="note.created"):
    note_id: str


def test_events_made_in_their_own_contexts_are_recorded_together_in_the_callers_transaction():
    # A writer committing several requests' work: each request makes its event, one transaction records them all.
    with django_events.correlation("request-1"):
        first = django_events.event_for(NoteCreated(note_id="n1"), key="n1")
    with django_events.correlation("request-2"):
        second = django_events.event_for(NoteCreated(note_id="n2"), key="n2")
    assert not OutboxEvent.objects.exists()  # made, not recorded

    with captured_events() as events, transaction.atomic():
        django_events.publish_events([first, second])

    assert events == [first, second]
    assert [e.correlation_id for e in events] == ["request-1", "request-2"]


def test_events_recorded_together_are_rolled_back_together():
    events = [django_events.event_for(NoteCreated(note_id=n), key=n) for n in ("n1", "n2")]

    with pytest.raises(RuntimeError), transaction.atomic():
        django_events.publish_events(events)
        raise RuntimeError("the change failed")

    assert not OutboxEvent.objects.exists()


def test_event_for_takes_a_typed_payload_only():
    with pytest.raises(TypeError):
        django_events.event_for("note.created", key="n1")  # type: ignore[arg-type]
