"""The explicit consumer path: @handles where a handler is written (its types, versions and sources),
subscribe() to register it, routes() and events_handlers to list it, the rebuild flag, and publish() of a typed
payload; and the deprecated forms (event types from method names, @handler, dict payloads), which keep working
and warn."""

import datetime as dt
import io
import json
import uuid
import warnings
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import transaction

import django_events
from django_events.dispatch import apply_events
from django_events.metrics import consumer_ignored
from django_events.models import InboxEvent, OutboxEvent
from django_events.projection import find_projection
from django_events.registry import registry
from django_events.testing import make_event
from tests.testapp.models import Applied, NoteView

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class NoteCreated(django_events.Payload, type="note.created", version=1):
    note_id: str
    text: str


@dataclass(frozen=True)
class NoteStamped(django_events.Payload, type="note.stamped", version=2):
    note_id: uuid.UUID
    at: dt.datetime


def deliver(*events, subscribers):
    with transaction.atomic():
        return apply_events(list(events), subscribers)


@pytest.fixture(autouse=True)
def isolated_registry():
    before = dict(registry.subscribers)
    NoteView.objects.all().delete()
    yield
    registry.subscribers.clear()
    registry.subscribers.update(before)


def test_a_declared_projection_handles_the_types_it_names_and_registers_only_when_subscribed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class DeclaredNotes(django_events.Projection):
            model = NoteView

            @django_events.handles("note.created")
            def remember(self, note: NoteCreated) -> None:
                self.upsert(note.note_id, text=note.text)

    assert "DeclaredNotes" not in registry.subscribers, "a class is not registered by being defined"
    django_events.subscribe(DeclaredNotes)

    assert registry.subscribers["DeclaredNotes"].event_types() == {"note.created"}
    created = make_event("note.created", {"note_id": "n1", "text": "hi"})
    assert deliver(created, subscribers=[registry.subscribers["DeclaredNotes"]]) == 1
    assert NoteView.objects.get(id="n1").text == "hi"


def test_a_version_nobody_declared_is_refused():
    projection = find_projection("NoteProjection")
    with pytest.raises(django_events.UnsupportedVersion, match="version 2 of note.created"):
        projection.apply(make_event("note.created", {"note_id": "n1", "text": "hi"}, version=2))


def test_versions_come_from_the_payloads_or_from_handles():
    class Stamps(django_events.Projection):
        model = NoteView

        @django_events.handles("note.stamped")
        def stamped(self, stamp: NoteStamped) -> None: ...

        @django_events.handles("note.pinned", versions=(1, 3))
        @django_events.handles("note.unpinned", versions=(1, 3))
        def pinned(self, event: django_events.Event) -> None: ...

    assert Stamps().routes() == {
        "note.stamped": {2: NoteStamped},
        "note.pinned": {1: None, 3: None},
        "note.unpinned": {1: None, 3: None},
    }


class FirstHandNotes(django_events.Projection):
    """Notes as their owner announces them: a monolith also announces them while the notes move out of it."""

    model = NoteView

    @django_events.handles("note.created", sources=("testapp",))
    def on_note_created(self, note: NoteCreated) -> None:
        self.upsert(note.note_id, text=note.text)


def test_a_subscriber_applies_only_the_sources_it_names():
    django_events.subscribe(FirstHandNotes)
    notes = registry.subscribers["FirstHandNotes"]
    second_hand = make_event("note.created", {"note_id": "n1", "text": "from the monolith"}, source="monolith")
    first_hand = make_event("note.created", {"note_id": "n1", "text": "from its owner"}, source="testapp")
    ignored = consumer_ignored.labels("testapp", "note.created", "monolith")
    ignored_before = ignored._value.get()

    assert deliver(second_hand, subscribers=[notes]) == 0
    assert deliver(second_hand, subscribers=[notes]) == 0, "a redelivery applies nothing either"
    assert deliver(first_hand, subscribers=[notes]) == 1
    assert deliver(first_hand, subscribers=[notes]) == 0

    assert NoteView.objects.get(id="n1").text == "from its owner"
    # Acknowledged as a type nobody handles is: no inbox row, so nothing of it can shadow another event.
    assert not InboxEvent.objects.filter(event_id=second_hand.id).exists()
    assert InboxEvent.objects.filter(event_id=first_hand.id, subscriber="FirstHandNotes").count() == 1
    assert ignored._value.get() == ignored_before + 2


def test_a_subscriber_without_sources_still_applies_every_source_beside_one_that_names_them():
    django_events.subscribe(FirstHandNotes)
    second_hand = make_event("note.created", {"note_id": "n2", "text": "from the monolith"}, source="monolith")
    both = [registry.subscribers["FirstHandNotes"], registry.subscribers["NoteProjection"]]

    assert deliver(second_hand, subscribers=both) == 1
    assert list(InboxEvent.objects.filter(event_id=second_hand.id).values_list("subscriber", flat=True)) == [
        "NoteProjection"
    ]


def test_a_handler_function_names_its_sources_too():
    @django_events.handles("tick.happened", sources=("testapp", "monolith"))
    def first_or_second_hand(event: django_events.Event) -> None:
        Applied.objects.create(event_id=event.id, key=event.key, seq=event.data["seq"])

    django_events.subscribe(first_or_second_hand)
    handler = registry.subscribers[f"{__name__}.{first_or_second_hand.__qualname__}"]
    ticks = [make_event("tick.happened", {"seq": n}, key="k", source=source)
             for n, source in enumerate(["testapp", "intruder", "monolith"])]

    assert handler.sources() == {"tick.happened": frozenset({"testapp", "monolith"})}
    assert deliver(*ticks, subscribers=[handler]) == 2
    assert sorted(Applied.objects.values_list("seq", flat=True)) == [0, 2]


@pytest.mark.parametrize("sources, problem", [("testapp", "takes sources such as"), ((), "names no source"),
                                              (("testapp", ""), "takes sources such as")])
def test_sources_are_a_collection_of_names(sources, problem):
    with pytest.raises(TypeError, match=problem):
        django_events.handles("note.created", sources=sources)


def test_subscribe_refuses_a_declaration_its_payload_cannot_read():
    @django_events.handles("note.deleted")
    def wrong_type(note: NoteCreated) -> None: ...

    @django_events.handles("note.created", versions=(1, 2))
    def wrong_version(note: NoteCreated) -> None: ...

    with pytest.raises(TypeError, match="handles 'note.deleted' but reads NoteCreated"):
        django_events.subscribe(wrong_type)
    with pytest.raises(TypeError, match="handles note.created v2 but reads no payload of it"):
        django_events.subscribe(wrong_version)
    with pytest.raises(TypeError, match="declares no event type"):
        django_events.subscribe(lambda event: None)


def test_two_methods_may_not_handle_one_type():
    class Twice(django_events.Projection):
        model = NoteView

        @django_events.handles("note.created")
        def one(self, event: django_events.Event) -> None: ...

        @django_events.handles("note.created")
        def other(self, event: django_events.Event) -> None: ...

    with pytest.raises(TypeError, match="both handle note.created"):
        django_events.subscribe(Twice)


def test_routes_and_events_handlers_list_every_type_and_who_handles_it():
    listed = {(r.event_type, r.version, r.subscriber, r.kind, r.reads) for r in django_events.routes()}
    assert ("note.deleted", 1, "NoteProjection", "projection", "NoteDeleted") in listed
    assert ("tick.happened", 1, "tests.testapp.projections.record_tick", "handler", "Event") in listed

    out = io.StringIO()
    call_command("events_handlers", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("note.created v1 -> NoteProjection (projection, reads Event)  ") and "projections.py:" in line
               for line in lines)
    assert any("tick.happened v1 -> tests.testapp.projections.record_tick" in line and "projections.py:" in line
               for line in lines)


def test_routes_and_events_handlers_say_which_sources_a_subscriber_applies():
    django_events.subscribe(FirstHandNotes)
    assert [(r.subscriber, r.sources) for r in django_events.routes() if r.event_type == "note.created"] == [
        ("FirstHandNotes", ("testapp",)),
        ("NoteProjection", ()),
    ]

    out = io.StringIO()
    call_command("events_handlers", stdout=out)
    assert "note.created v1 -> FirstHandNotes (projection, reads NoteCreated, from testapp only)  " in out.getvalue()


def test_a_rebuild_is_a_flag_the_projection_reads():
    live = find_projection("NoteProjection")
    fresh = live.bound_to("testapp_note_view_rebuild_1", name="NoteProjection#rebuild")
    assert (live.rebuilding, fresh.rebuilding) == (False, True)


@pytest.mark.django_db(transaction=True)
def test_publish_takes_the_typed_payload_that_its_consumers_read():
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    stamp = NoteStamped(note_id=uuid.UUID(int=7), at=at)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with transaction.atomic():
            event = django_events.publish(stamp, key="n7")

    row = OutboxEvent.objects.get()
    assert (row.event_type, row.event_version, event.type, event.version) == ("note.stamped", 2, "note.stamped", 2)
    data = json.loads(row.payload)["data"]
    assert data == {"note_id": str(uuid.UUID(int=7)), "at": "2026-01-02T03:04:05.678901+00:00"}, "to the microsecond"
    assert NoteStamped.of(django_events.Event.from_json(row.payload)) == stamp, "one dataclass serves both sides"
    with pytest.raises(TypeError, match="a payload or a type with data"):
        django_events.publish(stamp, key="n7", data={})


# The deprecated forms: they keep working until django-events 1.0, each warning with its replacement.


@pytest.mark.django_db(transaction=True)
def test_publishing_a_dict_still_works_and_warns():
    deprecated = r"publish\('note.created', data=\{\.\.\.\}\) is deprecated.*Payload"
    with pytest.warns(DeprecationWarning, match=deprecated), transaction.atomic():
        django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": "hi"})
    with pytest.warns(DeprecationWarning), transaction.atomic():
        django_events.publish(type="note.created", key="n2", data={"note_id": "n2", "text": "hi"}, version=1)

    assert sorted(OutboxEvent.objects.values_list("key", "event_type", "event_version")) == [
        ("n1", "note.created", 1), ("n2", "note.created", 1)]


def test_a_projection_with_method_names_still_registers_itself_and_warns():
    with pytest.warns(DeprecationWarning, match=r"OldNotes.on_note_created: an event type taken from a method name"
                                                r".*@django_events.handles\('note.created'\).*subscribe"):

        class OldNotes(django_events.Projection):
            model = NoteView
            versions = {"note.edited": {1, 2}}

            def on_note_created(self, note: NoteCreated) -> None:
                self.upsert(note.note_id, text=note.text)

            def on_note_edited(self, event: django_events.Event) -> None:
                self.update(event.data["note_id"], text=event.data["text"])

    old = find_projection("OldNotes")
    assert old.routes() == {"note.created": {1: NoteCreated}, "note.edited": {1: None, 2: None}}
    deliver(
        make_event("note.created", {"note_id": "n1", "text": "hi"}),
        make_event("note.edited", {"note_id": "n1", "text": "again"}, version=2),
        subscribers=[old],
    )
    assert NoteView.objects.get(id="n1").text == "again"


def test_a_handler_registered_on_import_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match=r"@django_events.handler is deprecated.*handles\('tick.happened'\)"):

        @django_events.handler("tick.happened")
        def old_tick(event: django_events.Event) -> None:
            Applied.objects.create(event_id=event.id, key=event.key, seq=event.data["seq"])

    old = registry.subscribers[f"{old_tick.__module__}.{old_tick.__qualname__}"]
    assert deliver(make_event("tick.happened", {"seq": 1}), subscribers=[old]) == 1
    assert Applied.objects.count() == 1
