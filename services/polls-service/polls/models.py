import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone
from event_contracts.polls import poll_is_open


class Poll(models.Model):
    STATUS_OPEN = "open"
    STATUS_CLOSED = "closed"
    STATUSES = [(STATUS_OPEN, "open"), (STATUS_CLOSED, "closed")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    question = models.CharField(max_length=300)
    # The owner's UUID from the auth-service token; users live in auth-service, not here.
    owner_id = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=STATUSES, default=STATUS_OPEN)
    closes_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="polls_poll_newest_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["open", "closed"]), name="polls_poll_status_valid"),
        ]

    def __str__(self) -> str:
        return self.question

    def status_at(self, moment: datetime) -> str:
        """A poll past its ``closes_at`` reads as closed, whether or not anyone closed it."""
        return self.STATUS_OPEN if poll_is_open(status=self.status, closes_at=self.closes_at, at=moment) else self.STATUS_CLOSED


class PollTally(models.Model):
    """Read model: votes per poll, fed by vote-service's vote.cast events."""

    poll_id = models.UUIDField(primary_key=True)
    total_votes = models.PositiveIntegerField(default=0)

    class Meta:
        managed = False
        db_table = "polls_poll_tally"
