import uuid

import pytest
from django_events import UnsupportedVersion
from django_events.testing import deliver, make_event

from votes.models import ChoiceView

pytestmark = pytest.mark.django_db


def _choice_event(type: str, *, choice_id: str, poll_id: str, text: str = "Yes", position: int = 0, version: int = 1):
    data = {"choice_id": choice_id, "poll_id": poll_id, "text": text, "position": position}
    return make_event(type, data, key=poll_id, version=version)


def test_choice_created_adds_the_choice():
    choice_id, poll_id = str(uuid.uuid4()), str(uuid.uuid4())

    deliver(_choice_event("choice.created", choice_id=choice_id, poll_id=poll_id, position=2))

    choice = ChoiceView.objects.get(pk=choice_id)
    assert (str(choice.poll_id), choice.text, choice.position) == (poll_id, "Yes", 2)


def test_choice_updated_changes_text_and_position():
    choice_id, poll_id = str(uuid.uuid4()), str(uuid.uuid4())
    deliver(_choice_event("choice.created", choice_id=choice_id, poll_id=poll_id))

    deliver(_choice_event("choice.updated", choice_id=choice_id, poll_id=poll_id, text="Rather yes", position=1))

    choice = ChoiceView.objects.get(pk=choice_id)
    assert (choice.text, choice.position) == ("Rather yes", 1)


def test_choice_deleted_removes_the_choice():
    choice_id, poll_id = str(uuid.uuid4()), str(uuid.uuid4())
    deliver(_choice_event("choice.created", choice_id=choice_id, poll_id=poll_id))

    deliver(make_event("choice.deleted", {"choice_id": choice_id, "poll_id": poll_id}, key=poll_id))

    assert not ChoiceView.objects.filter(pk=choice_id).exists()


def test_the_same_choice_event_delivered_twice_is_applied_once():
    event = _choice_event("choice.created", choice_id=str(uuid.uuid4()), poll_id=str(uuid.uuid4()))

    assert deliver(event) == 1
    assert deliver(event) == 0


def test_an_unknown_choice_version_is_not_applied():
    choice_id = str(uuid.uuid4())

    with pytest.raises(UnsupportedVersion):
        deliver(_choice_event("choice.created", choice_id=choice_id, poll_id=str(uuid.uuid4()), version=2))

    assert not ChoiceView.objects.filter(pk=choice_id).exists()
