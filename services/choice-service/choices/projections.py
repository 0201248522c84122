import django_events
import read_models.polls
from event_contracts.payloads import PollDeleted

from choices.models import PollView
from choices.services import poll_choices_delete


class PollViewProjection(read_models.polls.PollViewProjection):
    model = PollView


# A handler, not part of the projection: choices are this service's own data, and rebuilding the read model
# must never delete (or re-announce deleting) them.
@django_events.handles("poll.deleted")
def delete_the_choices_of_a_deleted_poll(poll: PollDeleted) -> None:
    poll_choices_delete(poll_id=poll.poll_id)
