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
from votes.services import votes_void_after_close


class PollViewProjection(django_events.Projection):
    model = PollView

    @django_events.handles("poll.created")
    def on_poll_created(self, poll: PollCreated) -> None:
        self.upsert(poll.poll_id, owner_id=poll.owner_id, status=poll.status, closes_at=poll.closes_at)

    @django_events.handles("poll.updated")
    def on_poll_updated(self, poll: PollUpdated) -> None:
        # poll.updated carries no owner_id, so it can only change a poll this projection already holds.
        self.update(poll.poll_id, status=poll.status, closes_at=poll.closes_at)

    @django_events.handles("poll.closed")
    def on_poll_closed(self, poll: PollClosed) -> None:
        known = self.objects.filter(pk=poll.poll_id).only("closes_at").first()
        if known is None:
            return
        # The poll closed at the earlier of its deadline and the moment its owner closed it.
        closes_at = min(poll.closed_at, known.closes_at) if known.closes_at else poll.closed_at
        self.update(poll.poll_id, status=PollView.STATUS_CLOSED, closes_at=closes_at)
        if not self.rebuilding:  # a rebuild replays history: the votes were voided when it happened
            votes_void_after_close(poll_id=poll.poll_id, closed_at=closes_at)

    @django_events.handles("poll.deleted")
    def on_poll_deleted(self, poll: PollDeleted) -> None:
        self.delete(poll.poll_id)


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
