import uuid

from django.db import models
from django.utils import timezone


class Vote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll_id = models.UUIDField()
    choice_id = models.UUIDField()
    voter_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll_id", "voter_id"], name="mono_vote_one_per_voter")]


class ChoiceTally(models.Model):
    SHARDS = 8

    poll_id = models.UUIDField()
    choice_id = models.UUIDField()
    shard = models.SmallIntegerField()
    votes = models.IntegerField(default=0)

    class Meta:
        db_table = "votes_choice_tally"
        constraints = [models.UniqueConstraint(fields=["poll_id", "choice_id", "shard"], name="mono_tally_unique")]
