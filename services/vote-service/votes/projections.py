import django_events
from event_contracts.payloads import (
    ChoiceCreated,
    ChoiceDeleted,
    ChoiceUpdated,
    PollClosed,
    PollCreated,
    PollDeleted,
    PollUpdated,
)

from votes.models import ChoiceView, PollView


class PollViewProjection(django_events.Projection):
    model = PollView

    def on_poll_created(self, poll: PollCreated) -> None:
        self.upsert(poll.poll_id, owner_id=poll.owner_id, status=poll.status, closes_at=poll.closes_at)

    def on_poll_updated(self, poll: PollUpdated) -> None:
        # poll.updated carries no owner_id, so it can only change a poll this projection already holds.
        self.update(poll.poll_id, status=poll.status, closes_at=poll.closes_at)

    def on_poll_closed(self, poll: PollClosed) -> None:
        self.update(poll.poll_id, status=PollView.STATUS_CLOSED)

    def on_poll_deleted(self, poll: PollDeleted) -> None:
        self.delete(poll.poll_id)


class ChoiceViewProjection(django_events.Projection):
    model = ChoiceView

    def on_choice_created(self, choice: ChoiceCreated) -> None:
        self._upsert_choice(choice)

    def on_choice_updated(self, choice: ChoiceUpdated) -> None:
        self._upsert_choice(choice)

    def on_choice_deleted(self, choice: ChoiceDeleted) -> None:
        self.delete(choice.choice_id)

    def _upsert_choice(self, choice: ChoiceCreated) -> None:
        self.upsert(choice.choice_id, poll_id=choice.poll_id, text=choice.text, position=choice.position)
