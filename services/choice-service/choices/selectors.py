import uuid

import django_events
from django.db.models import QuerySet

from choices.errors import choice_not_found, poll_not_known
from choices.models import Choice, PollView


def poll_view_get(*, poll_id: uuid.UUID | str) -> PollView:
    """The poll as this service knows it from poll.* events. A poll created a moment ago may not have reached
    it yet: wait for it, at most DJANGO_EVENTS["READ_MODEL_WAIT"] seconds, rather than answer 404 to a client
    that did nothing wrong; after that the poll is unknown (or deleted), and a retry would not help."""
    poll = django_events.wait_for_read_model(lambda: PollView.objects.filter(pk=poll_id).first())
    if poll is None:
        raise poll_not_known(poll_id)
    return poll


def choice_list(*, poll_id: uuid.UUID) -> QuerySet[Choice]:
    """A poll's choices by position; a poll this service has not heard of is a 404, not an empty list."""
    poll_view_get(poll_id=poll_id)
    return Choice.objects.filter(poll_id=poll_id).order_by("position")


def choice_get(*, choice_id: uuid.UUID) -> Choice:
    choice = Choice.objects.filter(pk=choice_id).first()
    if choice is None:
        raise choice_not_found(choice_id)
    return choice
