import django_events
from event_contracts.payloads import VoteCast, VoteVoided

from polls.models import PollTally


class PollTallyProjection(django_events.Projection):
    model = PollTally

    @django_events.handles("vote.cast")
    def on_vote_cast(self, vote: VoteCast) -> None:
        self.add(vote.poll_id, total_votes=1)

    @django_events.handles("vote.voided")
    def on_vote_voided(self, vote: VoteVoided) -> None:
        # A vote recorded after its poll closed (see vote-service's votes_void_after_close).
        self.add(vote.poll_id, total_votes=-1)
