import uuid
from datetime import datetime

import django_events
import read_models.polls
from event_contracts.payloads import ChoiceCreated, ChoiceDeleted, ChoiceUpdated, VoteCast

from votes.models import ChoiceView, PollView
from votes.services import vote_import, votes_void_after_close


class PollViewProjection(read_models.polls.PollViewProjection):
    model = PollView

    def poll_closed(self, poll_id: uuid.UUID, closed_at: datetime) -> None:
        if not self.rebuilding:  # a rebuild replays history: the votes were voided when it happened
            votes_void_after_close(poll_id=poll_id, closed_at=closed_at)


class ChoiceViewProjection(django_events.Projection):
    model = ChoiceView

    @django_events.handles("choice.created")
    def on_choice_created(self, choice: ChoiceCreated) -> None:
        self._upsert_choice(choice)

    @django_events.handles("choice.updated")
    def on_choice_updated(self, choice: ChoiceUpdated) -> None:
        self._upsert_choice(choice)

    @django_events.handles("choice.deleted")
    def on_choice_deleted(self, choice: ChoiceDeleted) -> None:
        self.delete(choice.choice_id)

    def _upsert_choice(self, choice: ChoiceCreated) -> None:
        self.upsert(choice.choice_id, poll_id=choice.poll_id, text=choice.text, position=choice.position)


@django_events.handles("vote.cast")
def count_vote_cast_in_monolith(cast: VoteCast) -> None:
    """While the votes seam moves (settings.MIGRATING_FROM): the monolith's votes, backfilled then live, counted
    here once and announced once; this service's own vote.cast come back too and are already here."""
    vote_import(cast)
