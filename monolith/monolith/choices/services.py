import uuid

from django.db import transaction
from django.db.models import Max
from event_contracts.payloads import ChoiceCreated, ChoiceDeleted, ChoiceUpdated
from service_kit.errors import Conflict, Forbidden, NotFound

from monolith.choices.models import Choice
from monolith.events import publish
from monolith.polls.models import Poll


def choice_created(choice: Choice) -> ChoiceCreated:
    return ChoiceCreated(choice_id=choice.id, poll_id=choice.poll_id, text=choice.text, position=choice.position)


@transaction.atomic
def choice_create(*, poll_id: uuid.UUID, actor_id: str, text: str) -> Choice:
    # The poll's row lock: its choices get positions one at a time, and its events leave in commit order.
    poll = Poll.objects.select_for_update().filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
    if poll.owner_id != actor_id:
        raise Forbidden("Only the poll's owner may change its choices.", code="not_owner",
                        details={"poll_id": str(poll_id)})
    if poll.status != "open":
        raise Conflict("This poll is closed: its choices can no longer change.", code="poll_closed",
                       details={"poll_id": str(poll_id)})
    last = Choice.objects.filter(poll_id=poll_id).aggregate(last=Max("position"))["last"] or 0
    choice = Choice.objects.create(poll_id=poll_id, text=text, position=last + 1)
    publish(choice_created(choice), key=str(poll_id))
    return choice


def choice_record(created: ChoiceCreated) -> bool:
    """Keeps a choice created elsewhere (choice-service, once `/api/choices/` moved there), under its id: False
    when it is here already (this monolith's own choice coming back, or a redelivery)."""
    _, new = Choice.objects.get_or_create(
        pk=created.choice_id, defaults={"poll_id": created.poll_id, "text": created.text, "position": created.position})
    return new


def choice_record_update(updated: ChoiceUpdated) -> None:
    Choice.objects.filter(pk=updated.choice_id).update(text=updated.text, position=updated.position)


def choice_record_delete(deleted: ChoiceDeleted) -> None:
    Choice.objects.filter(pk=deleted.choice_id).delete()
