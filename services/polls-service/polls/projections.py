import django_events
from django.db.models import F
from event_contracts.payloads import VoteCast

from polls.models import PollTally


class PollTallyProjection(django_events.Projection):
    model = PollTally

    def on_vote_cast(self, vote: VoteCast) -> None:
        if not self.update(vote.poll_id, total_votes=F("total_votes") + 1):
            self.upsert(vote.poll_id, total_votes=1)
