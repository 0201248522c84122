"""Finding: a vote sent right after a poll's close was accepted, because vote-service had not heard of the close.

The rule: a vote recorded at or after the poll's closed_at never counts; refused once the close is known, and
voided with a vote.voided event when it was accepted in the moment before.
"""

import uuid
from datetime import datetime

import pytest
from django.utils import timezone
from django_events import Event
from django_events.testing import captured_events, deliver, make_event
from service_kit.errors import Conflict

from votes.models import Vote
from votes.selectors import poll_results
from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db


def _poll_closed(poll_id: uuid.UUID, closed_at: datetime) -> Event:
    return make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": closed_at.isoformat()}, key=str(poll_id))


def test_a_vote_accepted_after_the_close_is_voided_announced_and_uncounted_when_the_close_arrives():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    counted = vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))
    closed_at = timezone.now()
    late = vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))  # the close not known yet

    with captured_events() as published:
        deliver(_poll_closed(poll.id, closed_at))

    assert list(Vote.objects.filter(poll_id=poll.id).values_list("id", flat=True)) == [counted.id]
    assert poll_results(poll_id=poll.id).total == 1
    assert [(event.type, event.data["vote_id"]) for event in published] == [("vote.voided", str(late.id))]


def test_the_close_redelivered_voids_nothing_more_and_later_votes_are_refused():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    closed_at = timezone.now()
    vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))
    deliver(_poll_closed(poll.id, closed_at))

    with captured_events() as published:
        deliver(_poll_closed(poll.id, closed_at))
    with pytest.raises(Conflict, match="closed"):
        vote_cast(poll_id=poll.id, choice_id=choice.id, voter_id=str(uuid.uuid4()))

    assert published == []
    assert poll_results(poll_id=poll.id).total == 0
