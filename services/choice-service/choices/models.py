import uuid

import read_models.polls
from django.db import models

ONE_CHOICE_PER_POSITION_CONSTRAINT = "choices_choice_unique_position_per_poll"


class Choice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll_id = models.UUIDField()
    text = models.CharField(max_length=200)
    position = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Positions are assigned under a lock on the poll; the constraint is the backstop if that is ever
            # bypassed, and its index serves "the choices of a poll, by position".
            models.UniqueConstraint(fields=["poll_id", "position"], name=ONE_CHOICE_PER_POSITION_CONSTRAINT),
        ]

    def __str__(self) -> str:
        return self.text


class PollView(read_models.polls.PollView):
    """Read model of polls-service's polls, fed by poll.* events: the only source of owner and status here."""

    class Meta(read_models.polls.PollView.Meta):
        db_table = "choices_poll_view"
