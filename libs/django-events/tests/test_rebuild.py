from django.core.management import call_command
from django.db import transaction

import django_events
from django_events.testing import deliver, make_event
from tests.conftest import consume_until, relay_until_empty
from tests.testapp.models import NoteView


def snapshot():
    return sorted(NoteView.objects.values_list("id", "text", "edits"))


def test_rebuild_replays_the_log_into_the_same_read_model(live, capsys):
    with transaction.atomic():
        for n in range(30):
            django_events.publish("note.created", key=f"n{n}", data={"note_id": f"n{n}", "text": f"note {n}"})
        for n in range(0, 30, 3):
            django_events.publish("note.edited", key=f"n{n}", data={"note_id": f"n{n}", "text": f"edited {n}"})
        for n in range(0, 30, 5):
            django_events.publish("note.deleted", key=f"n{n}", data={"note_id": f"n{n}"})
    relay_until_empty()
    consume_until(lambda: NoteView.objects.filter(text__startswith="edited").count() == 8 and NoteView.objects.count() == 24)
    built = snapshot()
    NoteView.objects.filter(id="n1").update(text="corrupted")
    NoteView.objects.filter(id="n2").delete()

    call_command("events_rebuild", "NoteProjection")

    assert snapshot() == built
    assert "rebuilt from" in capsys.readouterr().out
    # The inbox moved with the table: an old event delivered again does not apply twice.
    deliver(make_event("note.edited", {"note_id": "n3", "text": "edited 3"}, id=_event_id_of("n3", "note.edited")))
    assert snapshot() == built


def test_rebuild_skips_an_event_that_fails_and_applies_the_rest(live, caplog):
    with transaction.atomic():
        for n in range(5):
            django_events.publish("note.created", key=f"n{n}", data={"note_id": f"n{n}", "text": f"note {n}"})
        django_events.publish("note.edited", key="n1", data={"note_id": "n1"})  # no text: the handler fails
        django_events.publish("note.edited", key="n2", data={"note_id": "n2", "text": "edited 2"})
    relay_until_empty()
    # Every note and the good edit: they may sit in different partitions (the bad edit is dead-lettered).
    consume_until(lambda: NoteView.objects.count() == 5 and NoteView.objects.filter(text="edited 2").exists())
    built = snapshot()
    NoteView.objects.all().delete()

    call_command("events_rebuild", "NoteProjection")

    assert snapshot() == built
    assert "skipped 1 failing events" in caplog.text


def _event_id_of(key, event_type):
    from django_events.models import OutboxEvent

    return OutboxEvent.objects.get(key=key, event_type=event_type).event_id
