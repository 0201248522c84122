import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_events.testing import captured_events
from service_kit.errors import ApplicationError, Conflict, Forbidden, NotFound

from polls.models import Poll
from polls.services import poll_close, poll_create, poll_delete, poll_update
from polls.tests.factories import a_poll

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())


def test_creating_a_poll_publishes_poll_created_with_the_catalogue_fields():
    closes_at = timezone.now() + timedelta(days=1)
    with captured_events() as events:
        poll = poll_create(owner_id=OWNER, question="Tea or coffee?", closes_at=closes_at)

    assert (poll.status, poll.owner_id) == ("open", OWNER)
    [event] = events
    assert (event.type, event.key, event.version) == ("poll.created", str(poll.id), 1)
    assert event.data == {
        "poll_id": str(poll.id),
        "question": "Tea or coffee?",
        "owner_id": OWNER,
        "status": "open",
        "closes_at": closes_at.isoformat(),
        "created_at": poll.created_at.isoformat(),
    }


def test_a_poll_cannot_close_in_the_past():
    with pytest.raises(ApplicationError, match="future"), captured_events() as events:
        poll_create(owner_id=OWNER, question="Late?", closes_at=timezone.now() - timedelta(minutes=1))
    assert events == [] and not Poll.objects.exists()


def test_the_owner_updates_the_question_and_an_event_says_so():
    poll = a_poll(owner_id=OWNER)
    with captured_events() as events:
        poll_update(poll_id=poll.id, actor_id=OWNER, question="Coffee or tea?")

    assert Poll.objects.get().question == "Coffee or tea?"
    assert [(e.type, e.data["question"], e.data["closes_at"]) for e in events] == [("poll.updated", "Coffee or tea?", None)]


def test_an_update_that_changes_nothing_announces_nothing():
    poll = a_poll(owner_id=OWNER)
    with captured_events() as events:
        poll_update(poll_id=poll.id, actor_id=OWNER)
        poll_update(poll_id=poll.id, actor_id=OWNER, question=poll.question, closes_at=None)
    assert events == []


def test_only_the_owner_changes_closes_or_deletes_a_poll():
    poll = a_poll(owner_id=OWNER)
    stranger = str(uuid.uuid4())
    for change in (
        lambda: poll_update(poll_id=poll.id, actor_id=stranger, question="Mine now"),
        lambda: poll_close(poll_id=poll.id, actor_id=stranger),
        lambda: poll_delete(poll_id=poll.id, actor_id=stranger),
    ):
        with pytest.raises(Forbidden):
            change()
    assert Poll.objects.get().question == "Tea or coffee?"


def test_closing_publishes_poll_closed_once():
    poll = a_poll(owner_id=OWNER)
    with captured_events() as events:
        closed = poll_close(poll_id=poll.id, actor_id=OWNER)
    assert closed.status == "closed" and closed.closed_at is not None
    assert [e.type for e in events] == ["poll.closed"]

    with pytest.raises(Conflict, match="already closed"):
        poll_close(poll_id=poll.id, actor_id=OWNER)
    with pytest.raises(Conflict):
        poll_update(poll_id=poll.id, actor_id=OWNER, question="Reopen?")


def test_deleting_publishes_poll_deleted():
    poll = a_poll(owner_id=OWNER)
    with captured_events() as events:
        poll_delete(poll_id=poll.id, actor_id=OWNER)
    assert not Poll.objects.exists()
    assert [(e.type, e.data) for e in events] == [("poll.deleted", {"poll_id": str(poll.id)})]


def test_changing_an_unknown_poll_is_not_found():
    with pytest.raises(NotFound):
        poll_close(poll_id=uuid.uuid4(), actor_id=OWNER)


def test_a_poll_past_closes_at_reads_as_closed():
    poll = a_poll(owner_id=OWNER)
    Poll.objects.filter(pk=poll.id).update(closes_at=timezone.now() - timedelta(seconds=1))
    poll.refresh_from_db()
    assert poll.status == "open" and poll.status_at(timezone.now()) == "closed"
