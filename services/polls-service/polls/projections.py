import django_events
from django.db.models import F
from event_contracts.payloads import VoteCast, VoteVoided

from polls.models import PollTally


class PollTallyProjection(django_events.Projection):
    model = PollTally

    def on_vote_cast(self, vote: VoteCast) -> None:
        if not self.update(vote.poll_id, total_votes=F("total_votes") + 1):
            self.upsert(vote.poll_id, total_votes=1)

    def on_vote_voided(self, vote: VoteVoided) -> None:
        # A vote recorded after its poll closed (see vote-service's votes_void_after_close); it follows its
        # vote.cast on the poll's partition, so the row is there.
        self.update(vote.poll_id, total_votes=F("total_votes") - 1)
