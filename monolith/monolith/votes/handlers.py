import logging

import django_events
from event_contracts.payloads import VoteCast

from monolith.votes.services import vote_record

logger = logging.getLogger(__name__)


@django_events.handles("vote.cast")
def count_vote_cast_elsewhere(cast: VoteCast) -> None:
    """The monolith's pages (a poll's total_votes, its results) stay right once vote-service takes the votes."""
    if not vote_record(cast):
        logger.debug("vote %s already counted", cast.vote_id)
