import uuid

import pytest
from service_kit.errors import NotFound

from choices.selectors import choice_get, choice_list
from choices.tests.factories import a_choice, a_known_poll

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())


def test_choices_of_a_poll_come_by_position():
    poll_id, other_poll_id = a_known_poll(owner_id=OWNER), a_known_poll(owner_id=OWNER)
    for text in ("Tea", "Coffee", "Water"):
        a_choice(poll_id=poll_id, owner_id=OWNER, text=text)
    a_choice(poll_id=other_poll_id, owner_id=OWNER, text="Elsewhere")

    assert [(c.position, c.text) for c in choice_list(poll_id=poll_id)] == [(1, "Tea"), (2, "Coffee"), (3, "Water")]


def test_a_poll_not_heard_of_is_not_found_rather_than_empty():
    with pytest.raises(NotFound) as raised:
        choice_list(poll_id=uuid.uuid4())
    assert raised.value.code == "poll_not_known"


def test_choice_get_knows_a_choice_and_refuses_unknown_ids():
    choice = a_choice(poll_id=a_known_poll(owner_id=OWNER), owner_id=OWNER)
    assert choice_get(choice_id=choice.id) == choice
    with pytest.raises(NotFound):
        choice_get(choice_id=uuid.uuid4())
