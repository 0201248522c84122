"""While the choices seam moves out of a monolith, its choices are kept here once, whatever overlaps."""

import uuid

import pytest
from django_events.testing import captured_events
from event_contracts.payloads import ChoiceCreated

from choices.models import Choice
from choices.services import choice_import
from choices.tests.factories import a_choice, a_known_poll

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())


def test_a_monolith_choice_is_kept_once_under_its_id_and_announced_by_nobody():
    poll_id = a_known_poll(owner_id=OWNER)
    created = ChoiceCreated(choice_id=uuid.uuid4(), poll_id=poll_id, text="tea", position=1)
    with captured_events() as events:
        first = choice_import(created)
        again = choice_import(created)  # the backfill and the live stream overlapping, or a redelivery

    assert (first, again) == (True, False)
    assert list(Choice.objects.values_list("id", "text", "position")) == [(created.choice_id, "tea", 1)]
    assert events == []


def test_a_monolith_choice_whose_position_was_taken_here_goes_last():
    poll_id = a_known_poll(owner_id=OWNER)
    here = a_choice(poll_id=poll_id, owner_id=OWNER, text="made here as the route moved")

    choice_import(ChoiceCreated(choice_id=uuid.uuid4(), poll_id=poll_id, text="made in the monolith",
                                position=here.position))

    assert list(Choice.objects.order_by("position").values_list("text", "position")) == [
        ("made here as the route moved", 1), ("made in the monolith", 2)]


def test_this_services_own_choice_coming_back_changes_nothing():
    poll_id = a_known_poll(owner_id=OWNER)
    own = a_choice(poll_id=poll_id, owner_id=OWNER)

    assert not choice_import(ChoiceCreated(choice_id=own.id, poll_id=poll_id, text=own.text, position=own.position))
    assert Choice.objects.count() == 1
