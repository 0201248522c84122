import os
import time
from dataclasses import dataclass

from django.db.models import F

import django_events

from .models import Applied, NoteView


@dataclass(frozen=True)
class NoteDeleted(django_events.Payload, type="note.deleted"):
    note_id: str


class NoteProjection(django_events.Projection):
    model = NoteView

    @django_events.handles("note.created")
    def on_note_created(self, event):
        self.upsert(event.data["note_id"], text=event.data["text"])

    @django_events.handles("note.edited")
    def on_note_edited(self, event):
        self.update(event.data["note_id"], text=event.data["text"], edits=F("edits") + 1)

    @django_events.handles("note.deleted")
    def on_note_deleted(self, note: NoteDeleted) -> None:
        self.delete(note.note_id)


@django_events.handles("tick.happened")
def record_tick(event):
    time.sleep(event.data.get("sleep", 0))  # a slow handler, for the health and shutdown tests
    # TESTAPP_CURED: the fix deployed before a dead letter is redriven.
    if event.data.get("poison") and not os.environ.get("TESTAPP_CURED"):
        raise ValueError("this tick is poison")
    Applied.objects.create(event_id=event.id, key=event.key, seq=event.data["seq"])
