"""Publishes what the monolith holds, in the platform's contract shapes: each poll's poll.created, its choices'
choice.created, then its votes' vote.cast, under the poll's key. Run it once every monolith process publishes
(MONOLITH_EVENTS=publish): a row committed before then exists when the backfill starts, so one of its transactions
reads it; one committed after is in the outbox already; one in both carries the same id, which the consumers apply
once (projections upsert by id, votes are counted by id).

Each transaction publishes at most ``--batch`` events: publishing holds the poll's key lock until the commit, and
a live vote in that poll waits for it, so a poll's millions of votes go out in many short transactions, not one
that stalls its voters (and times out at the gateway) for the whole backfill."""

from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_events import Payload

from monolith.choices.models import Choice
from monolith.choices.services import choice_created
from monolith.events import publish, publishing
from monolith.polls.models import Poll
from monolith.polls.services import poll_created
from monolith.votes.models import Vote
from monolith.votes.services import vote_cast_event


def poll_events(poll: Poll, *, batch: int) -> Iterator[Payload]:
    """The poll and its choices, then its votes, read ``batch`` at a time by id (keyset pagination: no cursor held
    across the transactions, no vote skipped)."""
    yield poll_created(poll)
    yield from (choice_created(choice) for choice in Choice.objects.filter(poll_id=poll.id).order_by("position", "id"))
    after = None
    while True:
        votes = Vote.objects.filter(poll_id=poll.id).order_by("id")
        page = list(votes.filter(id__gt=after)[:batch] if after else votes[:batch])
        yield from (vote_cast_event(vote) for vote in page)
        if len(page) < batch:
            return
        after = page[-1].id


class Command(BaseCommand):
    help = "Publish every existing poll, choice and vote (run once MONOLITH_EVENTS=publish everywhere)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help="events per transaction")

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        if not publishing():
            raise CommandError("MONOLITH_EVENTS is off: set it to publish (every process) before the backfill")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        poll_ids = list(Poll.objects.order_by("created_at", "id").values_list("id", flat=True))
        events = 0
        for poll_id in poll_ids:
            poll = Poll.objects.filter(pk=poll_id).first()
            if poll is None:  # deleted since: its poll.deleted is in the outbox
                continue
            pending = poll_events(poll, batch=batch)
            while chunk := list(islice(pending, batch)):
                with transaction.atomic():
                    for payload in chunk:
                        publish(payload, key=str(poll.id))
                events += len(chunk)
        self.stdout.write(f"backfill: {len(poll_ids)} polls, {events} events in the outbox")
