from datetime import datetime

from django.db import transaction
from event_contracts.payloads import PollClosed, PollCreated, PollDeleted, PollUpdated

from monolith.events import publish
from monolith.polls.models import Poll


def poll_created(poll: Poll) -> PollCreated:
    return PollCreated(poll_id=poll.id, question=poll.question, owner_id=poll.owner_id, status="open",
                       closes_at=poll.closes_at, created_at=poll.created_at)


@transaction.atomic
def poll_create(*, owner_id: str, question: str, closes_at: datetime | None = None) -> Poll:
    poll = Poll.objects.create(owner_id=owner_id, question=question, closes_at=closes_at)
    publish(poll_created(poll), key=str(poll.id))
    return poll


def poll_record(created: PollCreated) -> bool:
    """Keeps a poll created elsewhere (polls-service, once `/api/polls/` moved there), under its id: False when
    it is here already (this monolith's own poll coming back, or a redelivery)."""
    _, new = Poll.objects.get_or_create(pk=created.poll_id, defaults={
        "question": created.question, "owner_id": created.owner_id, "status": created.status,
        "closes_at": created.closes_at, "created_at": created.created_at})
    return new


def poll_record_update(updated: PollUpdated) -> None:
    Poll.objects.filter(pk=updated.poll_id).update(question=updated.question, status=updated.status,
                                                   closes_at=updated.closes_at)


def poll_record_close(closed: PollClosed) -> None:
    Poll.objects.filter(pk=closed.poll_id).update(status="closed")


def poll_record_delete(deleted: PollDeleted) -> None:
    Poll.objects.filter(pk=deleted.poll_id).delete()  # its choices with it (their foreign key cascades)
