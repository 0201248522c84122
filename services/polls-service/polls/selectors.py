import uuid

from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from service_kit.errors import NotFound

from polls.models import Poll, PollTally


def _with_total_votes(polls: QuerySet[Poll]) -> QuerySet[Poll]:
    tally = PollTally.objects.filter(poll_id=OuterRef("pk")).values("total_votes")[:1]
    return polls.annotate(total_votes=Coalesce(Subquery(tally, output_field=IntegerField()), Value(0)))


def poll_list() -> QuerySet[Poll]:
    return _with_total_votes(Poll.objects.order_by("-created_at", "id"))


def poll_get(*, poll_id: uuid.UUID) -> Poll:
    poll = _with_total_votes(Poll.objects.filter(pk=poll_id)).first()
    if poll is None:
        raise NotFound("No poll has this id.", code="poll_not_found", details={"poll_id": str(poll_id)})
    return poll
