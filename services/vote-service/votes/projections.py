import uuid

import django_events
from django.utils.dateparse import parse_datetime
from django_events import Event

from votes.models import ChoiceView, PollView
from votes.services import votes_void_after_close


class PollViewProjection(django_events.Projection):
    model = PollView

    def on_poll_created(self, event: Event) -> None:
        data = event.data
        self.upsert(data["poll_id"], owner_id=data["owner_id"], status=data["status"], closes_at=data["closes_at"])

    def on_poll_updated(self, event: Event) -> None:
        # poll.updated carries no owner_id, so it can only change a poll this projection already holds.
        data = event.data
        self.update(data["poll_id"], status=data["status"], closes_at=data["closes_at"])

    def on_poll_closed(self, event: Event) -> None:
        poll_id, closed_at = event.data["poll_id"], parse_datetime(event.data["closed_at"])
        poll = self.objects.filter(pk=poll_id).only("closes_at").first()
        if poll is None:
            return
        # The poll closed at the earlier of its deadline and the moment its owner closed it.
        closes_at = min(closed_at, poll.closes_at) if poll.closes_at else closed_at
        self.update(poll_id, status=PollView.STATUS_CLOSED, closes_at=closes_at)
        if self.table == PollView._meta.db_table:  # not while a rebuild replays into a fresh table
            votes_void_after_close(poll_id=uuid.UUID(str(poll_id)), closed_at=closes_at)

    def on_poll_deleted(self, event: Event) -> None:
        self.delete(event.data["poll_id"])


class ChoiceViewProjection(django_events.Projection):
    model = ChoiceView

    def on_choice_created(self, event: Event) -> None:
        self._upsert_choice(event)

    def on_choice_updated(self, event: Event) -> None:
        self._upsert_choice(event)

    def on_choice_deleted(self, event: Event) -> None:
        self.delete(event.data["choice_id"])

    def _upsert_choice(self, event: Event) -> None:
        data = event.data
        self.upsert(data["choice_id"], poll_id=data["poll_id"], text=data["text"], position=data["position"])
