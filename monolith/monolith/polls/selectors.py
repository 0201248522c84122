import uuid

from django.db.models import QuerySet
from service_kit.errors import NotFound

from monolith.polls.models import Poll


def poll_get(*, poll_id: uuid.UUID) -> Poll:
    poll = Poll.objects.filter(pk=poll_id).first()
    if poll is None:
        raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
    return poll


def poll_list() -> QuerySet[Poll]:
    return Poll.objects.order_by("-created_at", "id")
