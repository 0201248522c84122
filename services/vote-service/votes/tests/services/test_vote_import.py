"""While the votes seam moves out of a monolith, its votes are counted here once, whatever overlaps."""

import uuid

import pytest
from django.db.models import Sum
from django.utils import timezone
from django_events.testing import captured_events
from event_contracts.payloads import VoteCast

from votes.models import ChoiceTally, Vote
from votes.services import vote_import

pytestmark = pytest.mark.django_db


def test_a_monolith_vote_is_counted_once_and_announced_again_once():
    cast = VoteCast(vote_id=uuid.uuid4(), poll_id=uuid.uuid4(), choice_id=uuid.uuid4(), voter_id="voter-1",
                    created_at=timezone.now())
    with captured_events() as events:
        first = vote_import(cast)
        again = vote_import(cast)  # the backfill and the live stream overlapping, or a redelivery
        same_voter = vote_import(VoteCast(**{**cast.__dict__, "vote_id": uuid.uuid4()}))

    assert (first, again, same_voter) == (True, False, False)
    assert list(Vote.objects.values_list("id", flat=True)) == [cast.vote_id]
    assert ChoiceTally.objects.filter(poll_id=cast.poll_id).aggregate(n=Sum("votes"))["n"] == 1
    assert [(e.type, e.key, e.data["vote_id"]) for e in events] == [("vote.cast", str(cast.poll_id), str(cast.vote_id))]
