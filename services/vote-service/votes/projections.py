import django_events
from django_events import Event

from votes.models import ChoiceView, PollView


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
        self.update(event.data["poll_id"], status=PollView.STATUS_CLOSED)

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
