import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone


class Poll(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    question = models.CharField(max_length=300)
    owner_id = models.CharField(max_length=64)
    status = models.CharField(max_length=8, default="open")
    closes_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Kept in the vote's transaction, as polls-service keeps its tally from vote.cast.
    total_votes = models.PositiveIntegerField(default=0)

    def is_open_at(self, moment: datetime) -> bool:
        return self.status == "open" and (self.closes_at is None or moment < self.closes_at)
