import uuid

import read_models.polls
from django.db import models
from django.utils import timezone

ONE_VOTE_PER_VOTER_CONSTRAINT = "votes_vote_one_per_poll_and_voter"


class Vote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll_id = models.UUIDField()
    choice_id = models.UUIDField()
    # The user's UUID string from the auth-service token; kept as text so the vote service never depends on
    # how auth-service spells its ids.
    voter_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The only thing that stops a double vote under concurrency: never check-then-insert.
            models.UniqueConstraint(fields=["poll_id", "voter_id"], name=ONE_VOTE_PER_VOTER_CONSTRAINT),
        ]
        indexes = [
            # Results count votes per choice of one poll: an index-only scan instead of a table scan.
            models.Index(fields=["poll_id", "choice_id"], name="votes_vote_poll_choice_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.voter_id} -> {self.choice_id} on {self.poll_id}"


class ChoiceTally(models.Model):
    """Votes per choice, kept in each vote's own transaction so results never count the votes themselves.

    A choice's count is spread over ``SHARDS`` rows, each vote adding to one at random: concurrent votes for
    one choice of a viral poll then rarely queue on one row's lock. Its count is the sum of its rows.
    """

    SHARDS = 8

    poll_id = models.UUIDField()
    choice_id = models.UUIDField()
    shard = models.SmallIntegerField()
    votes = models.IntegerField(default=0)

    class Meta:
        db_table = "votes_choice_tally"
        constraints = [
            # Leads with the poll: a poll's results read its few rows from this index.
            models.UniqueConstraint(fields=["poll_id", "choice_id", "shard"], name="votes_choice_tally_unique"),
        ]


class PollView(read_models.polls.PollView):
    """Read model of polls-service's polls, fed by poll.* events; the vote path validates against it alone."""

    class Meta(read_models.polls.PollView.Meta):
        db_table = "votes_poll_view"


class ChoiceView(models.Model):
    """Read model of choice-service's choices, fed by choice.* events."""

    id = models.UUIDField(primary_key=True)
    # The results page lists a poll's choices; django-events creates this index with the table.
    poll_id = models.UUIDField(db_index=True)
    text = models.CharField(max_length=500)
    position = models.IntegerField(default=0)

    class Meta:
        managed = False
        db_table = "votes_choice_view"
