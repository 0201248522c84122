import django_events
import read_models.polls
from event_contracts.payloads import ChoiceCreated, PollDeleted

from choices.models import PollView
from choices.services import choice_import, poll_choices_delete


class PollViewProjection(read_models.polls.PollViewProjection):
    model = PollView


# A handler, not part of the projection: choices are this service's own data, and rebuilding the read model
# must never delete (or re-announce deleting) them.
@django_events.handles("poll.deleted")
def delete_the_choices_of_a_deleted_poll(poll: PollDeleted) -> None:
    poll_choices_delete(poll_id=poll.poll_id)


@django_events.handles("choice.created")
def keep_choice_created_in_monolith(created: ChoiceCreated) -> None:
    """While the choices seam moves (settings.MIGRATING_FROM): the monolith's choices, backfilled then live, kept
    here once; this service's own choice.created come back too and are already here."""
    choice_import(created)
