import uuid

import django_events
from django.db.models import QuerySet

from choices.errors import choice_not_found, poll_not_known
from choices.models import Choice, PollView


def poll_view_get(*, poll_id: uuid.UUID | str, wait_for_new: bool) -> PollView:
    """The poll as this service knows it from poll.* events. A poll created a moment ago may not have reached
    it yet: with ``wait_for_new`` (a caller who may have created it), wait for it, within django_events' bounds
    (DJANGO_EVENTS["READ_MODEL_WAIT"] seconds, READ_MODEL_WAITERS requests at once), rather than answer 404 to a
    client that did nothing wrong; after that the poll is unknown (or deleted)."""
    poll = django_events.wait_for_read_model(lambda: _poll_view(poll_id)) if wait_for_new else _poll_view(poll_id)
    if poll is None:
        raise poll_not_known(poll_id)
    return poll


def _poll_view(poll_id: uuid.UUID | str) -> PollView | None:
    return PollView.objects.filter(pk=poll_id).first()


def choice_list(*, poll_id: uuid.UUID, wait_for_new: bool = False) -> QuerySet[Choice]:
    """A poll's choices by position; a poll this service has not heard of is a 404, not an empty list (waited for
    first with ``wait_for_new``, see poll_view_get)."""
    poll_view_get(poll_id=poll_id, wait_for_new=wait_for_new)
    return Choice.objects.filter(poll_id=poll_id).order_by("position")


def choice_get(*, choice_id: uuid.UUID) -> Choice:
    choice = Choice.objects.filter(pk=choice_id).first()
    if choice is None:
        raise choice_not_found(choice_id)
    return choice
