"""While the polls seam moves out of a monolith, its polls are kept here once, whatever overlaps."""

import uuid

import pytest
from django.utils import timezone
from django_events.testing import captured_events
from event_contracts.payloads import PollCreated

from polls.models import Poll
from polls.services import poll_import
from polls.tests.factories import a_poll

pytestmark = pytest.mark.django_db


def test_a_monolith_poll_is_kept_once_under_its_id_and_announced_by_nobody():
    created = PollCreated(poll_id=uuid.uuid4(), question="Tea or coffee?", owner_id="owner-1", status="open",
                          closes_at=None, created_at=timezone.now())
    with captured_events() as events:
        first = poll_import(created)
        again = poll_import(created)  # the backfill and the live stream overlapping, or a redelivery

    assert (first, again) == (True, False)
    poll = Poll.objects.get()
    assert (poll.id, poll.question, poll.owner_id, poll.created_at) == (
        created.poll_id, "Tea or coffee?", "owner-1", created.created_at)
    assert events == []


def test_this_services_own_poll_coming_back_changes_nothing():
    own = a_poll(question="Asked here")

    assert not poll_import(PollCreated(poll_id=own.id, question="other", owner_id=own.owner_id, status="open",
                                       closes_at=None, created_at=own.created_at))
    assert Poll.objects.get().question == "Asked here"
