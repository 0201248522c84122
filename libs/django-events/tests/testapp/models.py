from django.db import models


class Note(models.Model):
    """A write model that publishes note.* events."""

    text = models.CharField(max_length=200)


class NoteView(models.Model):
    """A read model fed by note.* events."""

    id = models.CharField(max_length=64, primary_key=True)
    text = models.CharField(max_length=200)
    edits = models.PositiveIntegerField(default=0)  # a CHECK constraint, which additions must respect

    class Meta:
        managed = False
        db_table = "testapp_note_view"


class Applied(models.Model):
    """One row per application of an event by a plain handler: counts reveal an event applied twice."""

    event_id = models.UUIDField()
    key = models.CharField(max_length=64)
    seq = models.IntegerField()
