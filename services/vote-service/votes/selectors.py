import uuid
from dataclasses import dataclass

from django.db.models import Count
from service_kit.errors import NotKnownYet

from votes.models import ChoiceView, PollView, Vote


@dataclass(frozen=True)
class ChoiceResult:
    choice_id: uuid.UUID
    text: str
    votes: int


@dataclass(frozen=True)
class PollResults:
    poll_id: uuid.UUID
    total: int
    choices: list[ChoiceResult]


def poll_results(*, poll_id: uuid.UUID) -> PollResults:
    """Exact counts from the service's own votes; every known choice is listed, with 0 when it has none.

    Three queries whatever the number of choices: the poll, its choices, one GROUP BY over its votes.
    """
    if not PollView.objects.filter(pk=poll_id).exists():
        raise NotKnownYet("poll", poll_id, service="vote-service")
    choices = ChoiceView.objects.filter(poll_id=poll_id).order_by("position", "id").values_list("id", "text")
    votes_by_choice = dict(
        Vote.objects.filter(poll_id=poll_id)
        .order_by()
        .values_list("choice_id")
        .annotate(votes=Count("*"))
        .values_list("choice_id", "votes")
    )
    results = [
        ChoiceResult(choice_id=choice_id, text=text, votes=votes_by_choice.get(choice_id, 0))
        for choice_id, text in choices
    ]
    # The total is the sum of the listed choices so that shares add up to 100%; votes for a choice deleted
    # since are kept but no longer shown.
    return PollResults(poll_id=poll_id, total=sum(r.votes for r in results), choices=results)
