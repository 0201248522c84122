"""A choice added to a poll created a moment ago waits for choice-service's projection to hold the poll."""

import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django_events.testing import after_first_read_of
from service_kit.errors import NotFound

from choices.models import Choice, PollView
from choices.services import choice_create


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 120})
def test_a_choice_for_a_poll_not_projected_yet_waits_for_it():
    poll_id, owner_id = uuid.uuid4(), str(uuid.uuid4())

    finish = after_first_read_of(
        PollView._meta.db_table, lambda: choice_create(poll_id=poll_id, actor_id=owner_id, text="Yes")
    )
    # What the consumer does when poll.created arrives.
    PollView.objects.create(id=poll_id, owner_id=owner_id, status="open")

    assert finish().text == "Yes"
    assert list(Choice.objects.filter(poll_id=poll_id).values_list("text", flat=True)) == ["Yes"]


@pytest.mark.django_db
@override_settings(DJANGO_EVENTS={**settings.DJANGO_EVENTS, "READ_MODEL_WAIT": 0.05})
def test_a_poll_never_projected_is_not_known_once_the_wait_is_over():
    with pytest.raises(NotFound) as raised:
        choice_create(poll_id=uuid.uuid4(), actor_id=str(uuid.uuid4()), text="Yes")

    assert raised.value.code == "poll_not_known"
