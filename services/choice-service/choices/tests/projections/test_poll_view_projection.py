import uuid
from datetime import timedelta

import django_events
import pytest
from django.utils import timezone
from django_events.testing import captured_events, deliver, make_event

from choices.models import Choice, PollView
from choices.tests.factories import a_choice, a_known_poll, poll_created

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())


def test_poll_created_is_remembered_once_even_when_redelivered():
    poll_id = uuid.uuid4()
    created = poll_created(poll_id=poll_id, owner_id=OWNER)

    assert deliver(created) == 1
    assert deliver(created) == 0

    poll = PollView.objects.get(pk=poll_id)
    assert (poll.owner_id, poll.status, poll.closes_at) == (OWNER, "open", None)


def test_poll_updated_changes_status_and_closes_at_of_a_known_poll_only():
    poll_id = a_known_poll(owner_id=OWNER)
    closes_at = timezone.now() + timedelta(days=1)
    unknown = uuid.uuid4()

    deliver(
        make_event("poll.updated",
                   {"poll_id": str(poll_id), "question": "?", "status": "open", "closes_at": closes_at.isoformat()}),
        make_event("poll.updated", {"poll_id": str(unknown), "question": "?", "status": "open", "closes_at": None}),
    )

    assert PollView.objects.get(pk=poll_id).closes_at == closes_at
    assert not PollView.objects.filter(pk=unknown).exists()


def test_poll_closed_closes_the_view():
    poll_id = a_known_poll(owner_id=OWNER)
    deliver(make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": timezone.now().isoformat()}))
    assert PollView.objects.get(pk=poll_id).status == "closed"


def test_poll_deleted_forgets_the_poll_and_deletes_its_choices_announcing_each():
    poll_id, other_poll_id = a_known_poll(owner_id=OWNER), a_known_poll(owner_id=OWNER)
    first, second = a_choice(poll_id=poll_id, owner_id=OWNER), a_choice(poll_id=poll_id, owner_id=OWNER)
    kept = a_choice(poll_id=other_poll_id, owner_id=OWNER)
    deleted = make_event("poll.deleted", {"poll_id": str(poll_id)})

    with captured_events() as events:
        deliver(deleted)
        deliver(deleted)

    assert not PollView.objects.filter(pk=poll_id).exists()
    assert list(Choice.objects.all()) == [kept]
    assert [(e.type, e.key, e.data) for e in events] == [
        ("choice.deleted", str(poll_id), {"choice_id": str(first.id), "poll_id": str(poll_id)}),
        ("choice.deleted", str(poll_id), {"choice_id": str(second.id), "poll_id": str(poll_id)}),
    ]


def test_an_unknown_version_is_refused():
    data = {"poll_id": str(uuid.uuid4()), "owner_id": OWNER, "status": "open", "closes_at": None}
    created = make_event("poll.created", data, version=2)
    with pytest.raises(django_events.UnsupportedVersion):
        deliver(created)
    assert not PollView.objects.exists()
