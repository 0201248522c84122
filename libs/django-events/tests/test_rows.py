import uuid

import pytest
from django.utils import timezone

from django_events.models import InboxEvent
from django_events.rows import insert_rows
from tests.testapp.models import NoteView

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_read_model():
    NoteView.objects.all().delete()


def test_a_conflict_updates_only_the_named_fields():
    NoteView.objects.create(id="a", text="old", edits=3)

    rows = [{"id": "a", "text": "new"}, {"id": "b", "text": "bee"}]
    insert_rows(NoteView, rows, using="default", conflict=["id"], update=["text"])

    assert sorted(NoteView.objects.values_list("id", "text", "edits")) == [("a", "new", 3), ("b", "bee", 0)]


def test_without_fields_to_update_a_conflict_leaves_the_row_alone():
    NoteView.objects.create(id="a", text="old", edits=3)

    insert_rows(NoteView, [{"id": "a", "text": "new"}], using="default", conflict=["id"])

    assert NoteView.objects.get(id="a").text == "old"


def test_returning_lists_only_the_rows_inserted():
    seen, fresh = uuid.uuid4(), uuid.uuid4()
    InboxEvent.objects.create(subscriber="s", event_id=seen)
    now = timezone.now()

    returned = insert_rows(
        InboxEvent,
        [{"subscriber": "s", "event_id": seen, "processed_at": now}, {"subscriber": "s", "event_id": fresh}],
        using="default", conflict=["subscriber", "event_id"], returning=["subscriber", "event_id"],
    )

    assert returned == [("s", fresh)]
    assert InboxEvent.objects.get(event_id=fresh).processed_at >= now  # its default


def test_an_auto_primary_key_left_out_takes_its_next_value():
    from tests.testapp.models import Note

    returned = insert_rows(Note, [{"text": "one"}, {"text": "two"}], using="default", returning=["id", "text"])

    assert sorted(text for _, text in returned) == ["one", "two"] and len({pk for pk, _ in returned}) == 2


def test_no_rows_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_rows(NoteView, [], using="default", conflict=["id"]) == []
