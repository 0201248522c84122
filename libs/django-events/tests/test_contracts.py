"""Event contracts: publish validates against the catalogue, handlers read typed payloads, and a schema change
that would break a consumer is named."""

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import transaction

import django_events
from django_events.contracts import Catalogue, breaking_changes, payload_problems
from django_events.registry import FunctionSubscriber, UnsupportedVersion
from django_events.testing import deliver, make_event
from tests.testapp.models import NoteView

CATALOGUE = Catalogue(Path(__file__).parent / "contracts")


@dataclass(frozen=True)
class NoteCreated(django_events.Payload, type="note.created"):
    note_id: str
    text: str


@dataclass(frozen=True)
class PinnedNote(django_events.Payload, type="note.created"):
    note_id: uuid.UUID
    pinned_at: dt.datetime
    colour: str


@pytest.fixture
def validating(settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "CONTRACTS": str(CATALOGUE.directory), "VALIDATE_PUBLISHED": True}


@pytest.mark.django_db
def test_publish_refuses_data_its_contract_does_not_allow(validating):
    with transaction.atomic():
        django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": "hello"})
        with pytest.raises(django_events.ContractViolation, match="text: 5 is not of type 'string'"):
            django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": 5})
        with pytest.raises(django_events.ContractViolation, match="no contract for version 2 of note.created"):
            django_events.publish("note.created", key="n1", data={"note_id": "n1", "text": "x"}, version=2)


def test_a_typed_handler_receives_its_payload_and_only_its_versions():
    received = []

    def remember(note: NoteCreated) -> None:
        received.append(note)

    subscriber = FunctionSubscriber("typed", {"note.created"}, {1}, remember)
    subscriber.apply(make_event("note.created", {"note_id": "n1", "text": "hi", "extra": "ignored"}))
    assert received == [NoteCreated(note_id="n1", text="hi")]
    with pytest.raises(UnsupportedVersion):
        subscriber.apply(make_event("note.created", {"note_id": "n1", "text": "hi"}, version=2))
    with pytest.raises(django_events.InvalidEvent, match="has no 'text'"):
        subscriber.apply(make_event("note.created", {"note_id": "n1"}))


@pytest.mark.django_db
def test_a_projection_method_annotated_with_a_payload_reads_it():
    deliver(make_event("note.created", {"note_id": "n9", "text": "x"}), make_event("note.deleted", {"note_id": "n9"}))
    assert not NoteView.objects.filter(id="n9").exists()


def test_a_payload_is_checked_against_what_the_contract_promises():
    assert payload_problems(NoteCreated, CATALOGUE) == []
    assert payload_problems(PinnedNote, CATALOGUE) == [
        "PinnedNote.pinned_at: note.created v1 does not promise 'pinned_at'",  # optional: it may be absent
        "PinnedNote.colour: note.created v1 does not promise 'colour'",
    ]


def test_removing_retyping_or_requiring_a_field_is_a_breaking_change():
    published = CATALOGUE.schema("note.created", 1)
    assert breaking_changes(published, published) == []
    added = {**published, "properties": {**published["properties"], "colour": {"type": "string"}}}
    assert breaking_changes(published, added) == []
    removed = {**published, "properties": {"note_id": {"type": "string"}}}
    assert breaking_changes(published, removed) == ["data.text was removed", "data.pinned_at was removed"]
    retyped = {**published, "properties": {**published["properties"], "text": {"type": "integer"}}}
    assert breaking_changes(published, retyped) == ["data.text changed from {'type': 'string'} to {'type': 'integer'}"]
    required = {**published, "required": [*published["required"], "pinned_at"]}
    assert breaking_changes(published, required) == ["data.pinned_at became required"]


def test_stating_or_tightening_a_limit_keeps_the_version_and_widening_or_dropping_it_breaks():
    published = CATALOGUE.schema("note.created", 1)

    def with_text(**text: object) -> dict[str, object]:
        return {**published, "properties": {**published["properties"], "text": {"type": "string", **text}}}

    assert breaking_changes(published, with_text(maxLength=300)) == []
    assert breaking_changes(with_text(maxLength=300), with_text(maxLength=200)) == []
    assert breaking_changes(with_text(maxLength=300), with_text(maxLength=400)) == [
        "data.text's maxLength went from 300 to 400"
    ]
    assert breaking_changes(with_text(maxLength=300), with_text()) == ["data.text lost its maxLength (300)"]
    assert breaking_changes(with_text(minLength=2), with_text(minLength=1)) == ["data.text's minLength went from 2 to 1"]
