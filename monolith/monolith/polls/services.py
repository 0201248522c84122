from datetime import datetime

from django.db import transaction
from event_contracts.payloads import PollCreated

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
