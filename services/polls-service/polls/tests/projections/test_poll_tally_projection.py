import uuid

import django_events
import pytest
from django_events.testing import deliver, make_event

from polls.models import PollTally

pytestmark = pytest.mark.django_db


def vote_cast(poll_id, version=1):
    data = {"vote_id": str(uuid.uuid4()), "poll_id": str(poll_id), "choice_id": str(uuid.uuid4()),
            "voter_id": str(uuid.uuid4()), "created_at": "2026-11-24T00:00:00+00:00"}
    return make_event("vote.cast", data, key=str(poll_id), version=version)


def test_each_vote_cast_counts_once_even_when_redelivered():
    poll_id = uuid.uuid4()
    first, second = vote_cast(poll_id), vote_cast(poll_id)

    deliver(first, second, first)
    deliver(second)

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 2


def test_polls_are_tallied_apart():
    a, b = uuid.uuid4(), uuid.uuid4()
    deliver(vote_cast(a), vote_cast(b), vote_cast(a))
    assert dict(PollTally.objects.values_list("poll_id", "total_votes")) == {a: 2, b: 1}


def test_an_unknown_version_is_refused():
    with pytest.raises(django_events.UnsupportedVersion):
        deliver(vote_cast(uuid.uuid4(), version=2))
    assert not PollTally.objects.exists()


def test_a_voided_vote_no_longer_counts_even_when_redelivered():
    poll_id = uuid.uuid4()
    kept, late = vote_cast(poll_id), vote_cast(poll_id)
    voided = make_event("vote.voided", {**late.data, "reason": "after_close"}, key=str(poll_id))

    deliver(kept, late, voided, voided)

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 1


def test_a_vote_voided_in_a_later_batch_is_subtracted():
    # The void arrives after the close, in a batch of its own: a negative addition to a PositiveIntegerField.
    poll_id = uuid.uuid4()
    kept, late = vote_cast(poll_id), vote_cast(poll_id)
    deliver(kept, late)

    deliver(make_event("vote.voided", {**late.data, "reason": "after_close"}, key=str(poll_id)))

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 1
