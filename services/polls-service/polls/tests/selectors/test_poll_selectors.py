import uuid

import pytest
from django_events.testing import deliver, make_event
from service_kit.errors import NotFound

from polls.selectors import poll_get, poll_list
from polls.tests.factories import a_poll

pytestmark = pytest.mark.django_db


def vote_cast(poll_id):
    data = {"vote_id": str(uuid.uuid4()), "poll_id": str(poll_id), "choice_id": str(uuid.uuid4()),
            "voter_id": str(uuid.uuid4()), "created_at": "2026-11-24T00:00:00+00:00"}
    return make_event("vote.cast", data, key=str(poll_id), source="vote-service")


def test_polls_list_newest_first_with_their_total_votes():
    older, _ = a_poll(question="older"), a_poll(question="newer")
    deliver(vote_cast(older.id), vote_cast(older.id))

    # total_votes: annotated by the selectors from the tally projection
    assert [(p.question, p.total_votes) for p in poll_list()] == [("newer", 0), ("older", 2)]  # type: ignore[attr-defined]


def test_poll_get_knows_its_total_and_refuses_unknown_ids():
    poll = a_poll()
    deliver(vote_cast(poll.id))
    assert poll_get(poll_id=poll.id).total_votes == 1  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        poll_get(poll_id=uuid.uuid4())
