import django_events
from event_contracts.payloads import PollClosed, PollCreated, PollDeleted, PollUpdated

from choices.models import PollView
from choices.services import poll_choices_delete


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
        self.update(poll.poll_id, status=PollView.STATUS_CLOSED)

    @django_events.handles("poll.deleted")
    def on_poll_deleted(self, poll: PollDeleted) -> None:
        self.delete(poll.poll_id)


# A handler, not part of the projection: choices are this service's own data, and rebuilding the read model
# must never delete (or re-announce deleting) them.
@django_events.handles("poll.deleted")
def delete_the_choices_of_a_deleted_poll(poll: PollDeleted) -> None:
    poll_choices_delete(poll_id=poll.poll_id)
