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


def test_upserts_of_a_batch_merge_per_row_and_reach_the_database_before_any_other_sql():
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from django_events.projection import batched_upserts

    projection = find_projection("NoteProjection")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, batched_upserts("default"):
        projection.upsert("a", text="one")
        projection.upsert("b")
        projection.upsert("a", edits=5)
        assert len(queries) == 0  # held back
        assert NoteView.objects.get(id="a").text == "one"  # a read sees them: they are written first
        projection.upsert("a", text="two")
        projection.upsert("b", text="bee")
        projection.upsert("c", text="sea")
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2 + 1  # before the read: a(text, edits) and b(); after it: a, b, c share one column set
    assert sorted(NoteView.objects.values_list("id", "text", "edits")) == [("a", "two", 5), ("b", "bee", 0), ("c", "sea", 0)]


def test_a_batch_of_events_applies_as_one_statement_per_event_would():
    events = [make_event("note.created", {"note_id": f"n{i % 3}", "text": f"v{i}"}) for i in range(10)]
    events.insert(5, make_event("note.edited", {"note_id": "n1", "text": "edited"}))
    deliver(*events)
    # n1: created v1, v4, edited (edits=1), then v7; edits is only ever changed by note.edited.
    assert sorted(NoteView.objects.values_list("id", "text", "edits")) == [("n0", "v9", 0), ("n1", "v7", 1), ("n2", "v8", 0)]


def test_additions_of_a_batch_sum_per_row_into_one_statement_and_keep_their_order_with_upserts():
    from django.db import IntegrityError, connection, transaction
    from django.test.utils import CaptureQueriesContext

    from django_events.projection import batched_upserts

    projection = find_projection("NoteProjection")
    projection.add("a", edits=10)  # outside a batch: at once, inserting the missing row with the delta
    assert NoteView.objects.get(id="a").edits == 10
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, batched_upserts("default"):
        for _ in range(50):
            projection.add("a", edits=1)
            projection.add("b", edits=2)
        projection.add("a", edits=-5)
        assert len(queries) == 0  # held back, summed
        projection.upsert("b", edits=0)  # b's additions are written first, then the upsert is held
        projection.add("b", edits=3)  # and the upsert written before this addition is held
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3  # a and b summed, b's upsert, b's last addition
    assert sorted(NoteView.objects.values_list("id", "edits")) == [("a", 10 + 50 - 5), ("b", 3)]

    # A negative sum: an upsert proposing -40 would fail the column's CHECK before finding the row; it updates.
    with transaction.atomic(), batched_upserts("default"):
        projection.add("a", edits=-40)
        projection.add("b", edits=1)
    projection.add("a", edits=-15)
    assert sorted(NoteView.objects.values_list("id", "edits")) == [("a", 0), ("b", 4)]
    with pytest.raises(IntegrityError), transaction.atomic():
        projection.add("missing", edits=-1)  # nothing to subtract from: the constraint says so


def test_events_a_handler_publishes_carry_the_correlation_id_of_the_event_it_handles(monkeypatch):
    from django_events.testing import captured_events
    from tests.testapp import projections

    def publish_follow_up(self, event):
        django_events.publish("note.followed", key="n1", data={})

    monkeypatch.setattr(projections.NoteProjection, "on_note_created", publish_follow_up)
    with captured_events() as events:
        deliver(make_event("note.created", {"note_id": "n1", "text": "x"}, correlation_id="chain-7"))

    assert [e.correlation_id for e in events] == ["chain-7"]
