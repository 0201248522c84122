import logging

import django_events
import event_contracts
from event_contracts.payloads import PollCreated, VoteCast, VoteVoided

from polls.models import PollTally
from polls.services import poll_import

logger = logging.getLogger(__name__)


class PollTallyProjection(django_events.Projection):
    model = PollTally

    # From the contract's owner alone: while a seam moves, vote-service announces each vote it imports from the
    # monolith once more as its own, so the monolith's vote.cast of it, believed too, would count it twice.
    @django_events.handles("vote.cast", sources=(event_contracts.OWNERS["vote.cast"],))
    def on_vote_cast(self, vote: VoteCast) -> None:
        self.add(vote.poll_id, total_votes=1)
        # Applied live, the line carries the trace id of the POST /api/votes/ that cast it (django-events' span).
        logger.info("vote %s counted in poll %s", vote.vote_id, vote.poll_id)

    @django_events.handles("vote.voided")
    def on_vote_voided(self, vote: VoteVoided) -> None:
        # A vote recorded after its poll closed (see vote-service's votes_void_after_close).
        self.add(vote.poll_id, total_votes=-1)


@django_events.handles("poll.created")
def keep_poll_created_in_monolith(created: PollCreated) -> None:
    """While the polls seam moves (settings.MIGRATING_FROM): the monolith's polls, backfilled then live, kept here
    once; this service's own poll.created come back too and are already here."""
    poll_import(created)
