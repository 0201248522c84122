import uuid
from datetime import UTC, datetime

import pytest
from django_events import Event, UnsupportedVersion
from django_events.testing import deliver, make_event

from votes.models import PollView

pytestmark = pytest.mark.django_db

CLOSES_AT = "2030-01-01T12:00:00+00:00"


def _poll_created(poll_id: str, **overrides) -> Event:
    data = {
        "poll_id": poll_id,
        "question": "Tea or coffee?",
        "owner_id": "owner-1",
        "status": "open",
        "closes_at": None,
        "created_at": "2025-01-01T00:00:00+00:00",
        **overrides,
    }
    return make_event("poll.created", data)


def test_poll_created_adds_the_poll():
    poll_id = str(uuid.uuid4())

    deliver(_poll_created(poll_id, closes_at=CLOSES_AT))

    poll = PollView.objects.get(pk=poll_id)
    assert (poll.owner_id, poll.status) == ("owner-1", "open")
    assert poll.closes_at == datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_the_same_event_delivered_twice_is_applied_once():
    event = _poll_created(str(uuid.uuid4()))

    assert deliver(event) == 1
    assert deliver(event) == 0
    assert PollView.objects.count() == 1


def test_poll_updated_changes_status_and_closes_at():
    poll_id = str(uuid.uuid4())
    deliver(_poll_created(poll_id))

    deliver(make_event("poll.updated", {"poll_id": poll_id, "question": "Q?", "status": "open", "closes_at": CLOSES_AT}))

    assert PollView.objects.get(pk=poll_id).closes_at == datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_poll_closed_closes_the_poll():
    poll_id = str(uuid.uuid4())
    deliver(_poll_created(poll_id))

    deliver(make_event("poll.closed", {"poll_id": poll_id, "closed_at": "2025-01-02T00:00:00+00:00"}))

    assert PollView.objects.get(pk=poll_id).status == PollView.STATUS_CLOSED


def test_poll_deleted_removes_the_poll():
    poll_id = str(uuid.uuid4())
    deliver(_poll_created(poll_id))

    deliver(make_event("poll.deleted", {"poll_id": poll_id}))

    assert not PollView.objects.filter(pk=poll_id).exists()


def test_an_unknown_version_is_not_applied():
    poll_id = str(uuid.uuid4())
    event = make_event("poll.created", _poll_created(poll_id).data, version=2)

    with pytest.raises(UnsupportedVersion, match="unsupported version 2 of poll.created"):
        deliver(event)

    assert not PollView.objects.filter(pk=poll_id).exists()
