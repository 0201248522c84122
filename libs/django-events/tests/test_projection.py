import pytest

import django_events
from django_events.projection import find_projection
from django_events.testing import deliver, make_event
from tests.testapp.models import Applied, NoteView

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_read_model():
    NoteView.objects.all().delete()


def test_projection_methods_map_to_event_types():
    projection = find_projection("NoteProjection")
    assert projection.event_types() == {"note.created", "note.edited", "note.deleted"}


def test_a_projection_builds_its_read_model():
    deliver(
        make_event("note.created", {"note_id": "n1", "text": "first"}),
        make_event("note.created", {"note_id": "n2", "text": "second"}),
        make_event("note.edited", {"note_id": "n1", "text": "first, edited"}),
        make_event("note.deleted", {"note_id": "n2"}),
    )

    assert list(NoteView.objects.values_list("id", "text", "edits")) == [("n1", "first, edited", 1)]


def test_a_redelivered_event_is_applied_once():
    created = make_event("note.created", {"note_id": "n1", "text": "first"})
    edited = make_event("note.edited", {"note_id": "n1", "text": "again"})

    assert deliver(created, edited) == 2
    assert deliver(edited, edited, created) == 0

    assert NoteView.objects.get(id="n1").edits == 1


def test_plain_handlers_are_discovered_and_idempotent_too():
    tick = make_event("tick.happened", {"seq": 1}, key="k")
    deliver(tick)
    deliver(tick)
    assert Applied.objects.filter(event_id=tick.id).count() == 1


def test_an_unknown_version_is_refused_not_guessed():
    with pytest.raises(django_events.UnsupportedVersion, match="unsupported version 2 of note.created"):
        deliver(make_event("note.created", {"note_id": "n1", "text": "x"}, version=2))
    assert not NoteView.objects.exists()


def test_an_event_no_subscriber_wants_is_ignored():
    assert deliver(make_event("note.archived", {"note_id": "n1"})) == 0


def test_unknown_projection_names_list_the_known_ones():
    with pytest.raises(LookupError, match="NoteProjection"):
        find_projection("Nope")
