import uuid
from dataclasses import dataclass

import django_events
from django.db.models import Sum
from service_kit.errors import NotKnownYet

from votes.models import ChoiceTally, ChoiceView, PollView


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
    """Exact counts from the tallies each vote adds to in its own transaction; every known choice is listed,
    with 0 when it has none.

    Three queries whatever the number of choices or votes: the poll, its choices, the sums of their tallies.
    """
    # A poll created a moment ago is waited for (see django_events.wait_for_read_model), an unknown one is a 404.
    if not django_events.wait_for_read_model(lambda: PollView.objects.filter(pk=poll_id).exists() or None):
        raise NotKnownYet("poll", poll_id, service="vote-service")
    choices = ChoiceView.objects.filter(poll_id=poll_id).order_by("position", "id").values_list("id", "text")
    votes_by_choice = dict(
        ChoiceTally.objects.filter(poll_id=poll_id)
        .order_by()
        .values_list("choice_id")
        .annotate(votes=Sum("votes"))
        .values_list("choice_id", "votes")
    )
    results = [
        ChoiceResult(choice_id=choice_id, text=text, votes=votes_by_choice.get(choice_id, 0))
        for choice_id, text in choices
    ]
    # The total is the sum of the listed choices so that shares add up to 100%; votes for a choice deleted
    # since are kept but no longer shown.
    return PollResults(poll_id=poll_id, total=sum(r.votes for r in results), choices=results)
