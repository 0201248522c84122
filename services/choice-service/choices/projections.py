import django_events
from django_events import Event

from choices.models import PollView
from choices.services import poll_choices_delete


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


# A handler, not part of the projection: choices are this service's own data, and rebuilding the read model
# must never delete (or re-announce deleting) them.
@django_events.handler("poll.deleted")
def delete_the_choices_of_a_deleted_poll(event: Event) -> None:
    poll_choices_delete(poll_id=event.data["poll_id"])
