"""Publishes what the monolith holds, in the platform's contract shapes: each poll's poll.created, its choices'
choice.created and its votes' vote.cast, in that order and under the poll's key, one transaction per batch of
polls. Run it once every monolith process publishes (MONOLITH_EVENTS=publish): a row committed before then is in
the backfill's snapshot, one committed after is in the outbox already, and one in both carries the same id,
which the consumers apply once (projections upsert by id, votes are counted by id)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from monolith.choices.models import Choice
from monolith.choices.services import choice_created
from monolith.events import publish, publishing
from monolith.polls.models import Poll
from monolith.polls.services import poll_created
from monolith.votes.models import Vote
from monolith.votes.services import vote_cast_event


class Command(BaseCommand):
    help = "Publish every existing poll, choice and vote (run once MONOLITH_EVENTS=publish everywhere)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=100, help="polls per transaction")

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        if not publishing():
            raise CommandError("MONOLITH_EVENTS is off: set it to publish (every process) before the backfill")
        poll_ids = list(Poll.objects.order_by("created_at", "id").values_list("id", flat=True))
        events = 0
        for start in range(0, len(poll_ids), batch):
            with transaction.atomic():
                for poll in Poll.objects.filter(id__in=poll_ids[start:start + batch]).order_by("created_at", "id"):
                    key = str(poll.id)
                    publish(poll_created(poll), key=key)
                    for choice in Choice.objects.filter(poll_id=poll.id).order_by("position", "id"):
                        publish(choice_created(choice), key=key)
                        events += 1
                    for vote in Vote.objects.filter(poll_id=poll.id).order_by("created_at", "id").iterator():
                        publish(vote_cast_event(vote), key=key)
                        events += 1
                    events += 1
        self.stdout.write(f"backfill: {len(poll_ids)} polls, {events} events in the outbox")
