import uuid

from django.db.models import QuerySet

from choices.errors import choice_not_found, poll_not_known
from choices.models import Choice, PollView


def choice_list(*, poll_id: uuid.UUID) -> QuerySet[Choice]:
    """A poll's choices by position; a poll this service has not heard of is a 404, not an empty list, so a
    client that just created the poll knows to retry."""
    if not PollView.objects.filter(pk=poll_id).exists():
        raise poll_not_known(poll_id)
    return Choice.objects.filter(poll_id=poll_id).order_by("position")


def choice_get(*, choice_id: uuid.UUID) -> Choice:
    choice = Choice.objects.filter(pk=choice_id).first()
    if choice is None:
        raise choice_not_found(choice_id)
    return choice
