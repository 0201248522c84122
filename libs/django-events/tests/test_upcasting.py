"""Upcasters: a subscriber written for v2 reads v1 events as v2, live and in a rebuild, on each transport."""

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction

import django_events
from django_events import dead_letters
from django_events.consumer import Consumer
from django_events.contracts import breaking_changes
from django_events.dispatch import apply_events
from django_events.models import DeadLetter
from django_events.rebuild import rebuild
from django_events.registry import UnsupportedVersion, function_subscriber
from django_events.testing import make_event
from tests.conftest import relay_until_empty
from tests.testapp.models import NoteView

seen: list[tuple[int, dict]] = []


@django_events.handles("note.created", versions=(2,))
def on_note_created_v2(event):
    seen.append((event.version, event.data))


class NoteProjectionV2(django_events.Projection):
    """Written for v2 of note.created, where the text is called ``body``."""

    model = NoteView

    @django_events.handles("note.created", versions=(2,))
    def on_note_created(self, event):
        self.upsert(event.data["note_id"], text=event.data["body"])


@django_events.upcasts("note.created", from_version=1)
def note_created_v1_to_v2(data):
    return {"note_id": data["note_id"], "body": data["text"]}


@pytest.fixture
def upcaster() -> Iterator[None]:
    seen.clear()
    django_events.register_upcasters(note_created_v1_to_v2)
    yield
    django_events.unregister_upcasters(note_created_v1_to_v2)


def test_a_subscriber_sees_only_its_version_and_the_event_keeps_its_id(db, upcaster):
    v1 = make_event("note.created", {"note_id": "n1", "text": "hello"})
    v2 = make_event("note.created", {"note_id": "n2", "body": "as is"}, version=2)
    subscriber = function_subscriber(on_note_created_v2)

    with transaction.atomic():
        assert apply_events([v1, v2, v1], [subscriber]) == 2  # the repeated v1 is skipped by the inbox, by id

    assert seen == [(2, {"note_id": "n1", "body": "hello"}), (2, {"note_id": "n2", "body": "as is"})]


def test_without_an_upcaster_the_old_version_is_still_refused(db):
    with pytest.raises(UnsupportedVersion), transaction.atomic():
        apply_events([make_event("note.created", {"note_id": "n1", "text": "x"})], [function_subscriber(on_note_created_v2)])


@django_events.handles("note.created", versions=(3,))
def on_note_created_v3(event):
    seen.append((event.version, event.data))


@django_events.upcasts("note.created", from_version=2)
def note_created_v2_to_v3(data):
    return {**data, "pinned": False}


def test_upcasters_chain_one_version_at_a_time_and_a_gap_names_both_versions(db, upcaster):
    v1 = make_event("note.created", {"note_id": "n1", "text": "hello"})
    subscriber = function_subscriber(on_note_created_v3)

    refused = r"unsupported version 1 of note.created \(upcast to v2, not handled"
    with pytest.raises(UnsupportedVersion, match=refused), transaction.atomic():
        apply_events([v1], [subscriber])

    django_events.register_upcasters(note_created_v2_to_v3)
    try:
        with transaction.atomic():
            assert apply_events([v1], [subscriber]) == 1
    finally:
        django_events.unregister_upcasters(note_created_v2_to_v3)
    assert seen == [(3, {"note_id": "n1", "body": "hello", "pinned": False})]


def consume_with(projection, done) -> None:
    consumer = Consumer([projection])
    try:
        for _ in range(300):
            if done():
                return
            consumer.poll_once(0.2)
    finally:
        consumer.close()
    raise AssertionError("the consumer did not get there in time")


def test_live_consumption_and_a_rebuild_upcast_alike(live, upcaster):
    with transaction.atomic():
        for n in range(5):
            django_events.publish("note.created", key=f"n{n}", data={"note_id": f"n{n}", "text": f"note {n}"})
    relay_until_empty()
    projection = NoteProjectionV2()

    consume_with(projection, lambda: NoteView.objects.count() == 5)
    assert sorted(NoteView.objects.values_list("id", "text")) == [(f"n{n}", f"note {n}") for n in range(5)]

    NoteView.objects.all().delete()
    assert rebuild(projection) == 5
    assert sorted(NoteView.objects.values_list("id", "text")) == [(f"n{n}", f"note {n}") for n in range(5)]


def test_a_v1_event_dead_lettered_before_the_upcaster_existed_is_redriven_through_it(live):
    with transaction.atomic():
        django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": "before the upcaster"})
    relay_until_empty()
    projection = NoteProjectionV2()
    consume_with(projection, DeadLetter.objects.exists)
    [dead] = DeadLetter.objects.all()
    assert dead.reason == "unsupported version 1 of note.created"

    django_events.register_upcasters(note_created_v1_to_v2)  # the fix deployed
    try:
        assert dead_letters.redrive(dead.pk, subscribers=[projection]).applied == 1
    finally:
        django_events.unregister_upcasters(note_created_v1_to_v2)
    assert list(NoteView.objects.values_list("id", "text")) == [("n1", "before the upcaster")]


def test_a_change_an_upcaster_covers_is_no_break_for_consumers():
    v1 = {"type": "object", "properties": {"note_id": {"type": "string"}, "text": {"type": "string"}},
          "required": ["note_id", "text"]}
    v2 = {"type": "object", "properties": {"note_id": {"type": "string"}, "body": {"type": "string"}},
          "required": ["note_id", "body"]}
    assert breaking_changes(v1, v2) == ["data.text was removed", "data.body became required"]

    example = {"note_id": "n1", "text": "hello"}
    assert breaking_changes(v1, v2, upcaster=note_created_v1_to_v2, example=example) == []
    assert breaking_changes(v1, v2, upcaster=lambda data: {"note_id": data["note_id"]}, example=example) == [
        "data: 'body' is a required property (after the upcaster)"
    ]


def test_events_handlers_lists_the_upcasters_beside_the_handlers(upcaster):
    out = io.StringIO()
    call_command("events_handlers", stdout=out)
    [line] = [line for line in out.getvalue().splitlines() if "upcast by" in line]
    assert line.startswith("note.created v1 -> v2 upcast by tests.test_upcasting.note_created_v1_to_v2  ")
    assert line.endswith(f"test_upcasting.py:{note_created_v1_to_v2.__code__.co_firstlineno}")
