import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_events.testing import captured_events, deliver, make_event
from service_kit.errors import Conflict, Forbidden, NotFound

from choices import services
from choices.models import Choice
from choices.services import choice_create, choice_delete, choice_update
from choices.tests.factories import a_choice, a_known_poll

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())
STRANGER = str(uuid.uuid4())


def test_creating_a_choice_takes_the_next_position_and_publishes_choice_created():
    poll_id = a_known_poll(owner_id=OWNER)
    a_choice(poll_id=poll_id, owner_id=OWNER, text="Tea")

    with captured_events() as events:
        choice = choice_create(poll_id=poll_id, actor_id=OWNER, text="Coffee")

    assert choice.position == 2
    [event] = events
    assert (event.type, event.key, event.version) == ("choice.created", str(poll_id), 1)
    assert event.data == {"choice_id": str(choice.id), "poll_id": str(poll_id), "text": "Coffee", "position": 2}


def test_positions_keep_growing_after_a_deletion():
    poll_id = a_known_poll(owner_id=OWNER)
    a_choice(poll_id=poll_id, owner_id=OWNER)
    last = a_choice(poll_id=poll_id, owner_id=OWNER)
    choice_delete(choice_id=last.id, actor_id=OWNER)
    assert a_choice(poll_id=poll_id, owner_id=OWNER).position == 2


def test_only_the_owner_adds_choices():
    poll_id = a_known_poll(owner_id=OWNER)
    with pytest.raises(Forbidden), captured_events() as events:
        choice_create(poll_id=poll_id, actor_id=STRANGER, text="Mine")
    assert events == [] and not Choice.objects.exists()


def test_a_poll_not_heard_of_takes_no_choices():
    with pytest.raises(NotFound, match="This poll is not known to") as raised:
        choice_create(poll_id=uuid.uuid4(), actor_id=OWNER, text="Tea")
    assert raised.value.code == "poll_not_known"


@pytest.mark.parametrize(
    "closing",
    [
        lambda poll_id: deliver(make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": timezone.now().isoformat()})),
        lambda poll_id: deliver(make_event("poll.updated", {
            "poll_id": str(poll_id), "question": "?", "status": "open",
            "closes_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
        })),
    ],
    ids=["closed", "past-closes-at"],
)
def test_a_closed_poll_takes_no_choices_and_its_choices_no_longer_change(closing):
    poll_id = a_known_poll(owner_id=OWNER)
    choice = a_choice(poll_id=poll_id, owner_id=OWNER)
    closing(poll_id)

    for change in (
        lambda: choice_create(poll_id=poll_id, actor_id=OWNER, text="Late"),
        lambda: choice_update(choice_id=choice.id, actor_id=OWNER, text="Late"),
        lambda: choice_delete(choice_id=choice.id, actor_id=OWNER),
    ):
        with pytest.raises(Conflict, match="closed"):
            change()
    assert list(Choice.objects.values_list("text", flat=True)) == ["Tea"]


def test_a_poll_has_a_bounded_number_of_choices(monkeypatch):
    monkeypatch.setattr(services, "MAX_CHOICES_PER_POLL", 2)
    poll_id = a_known_poll(owner_id=OWNER)
    a_choice(poll_id=poll_id, owner_id=OWNER)
    a_choice(poll_id=poll_id, owner_id=OWNER)
    with pytest.raises(Conflict) as raised:
        a_choice(poll_id=poll_id, owner_id=OWNER)
    assert raised.value.code == "too_many_choices"


def test_the_owner_renames_a_choice_and_an_event_says_so_unless_nothing_changed():
    poll_id = a_known_poll(owner_id=OWNER)
    choice = a_choice(poll_id=poll_id, owner_id=OWNER, text="Tea")

    with captured_events() as events:
        choice_update(choice_id=choice.id, actor_id=OWNER, text="Green tea")
        choice_update(choice_id=choice.id, actor_id=OWNER, text="Green tea")

    assert Choice.objects.get().text == "Green tea"
    assert [(e.type, e.data) for e in events] == [
        ("choice.updated", {"choice_id": str(choice.id), "poll_id": str(poll_id), "text": "Green tea", "position": 1})
    ]


def test_the_owner_deletes_a_choice_and_an_event_says_so():
    poll_id = a_known_poll(owner_id=OWNER)
    choice = a_choice(poll_id=poll_id, owner_id=OWNER)

    with captured_events() as events:
        choice_delete(choice_id=choice.id, actor_id=OWNER)

    assert not Choice.objects.exists()
    assert [(e.type, e.key, e.data) for e in events] == [
        ("choice.deleted", str(poll_id), {"choice_id": str(choice.id), "poll_id": str(poll_id)})
    ]


def test_strangers_neither_rename_nor_delete_and_unknown_choices_are_not_found():
    choice = a_choice(poll_id=a_known_poll(owner_id=OWNER), owner_id=OWNER)
    with pytest.raises(Forbidden):
        choice_update(choice_id=choice.id, actor_id=STRANGER, text="Mine")
    with pytest.raises(Forbidden):
        choice_delete(choice_id=choice.id, actor_id=STRANGER)
    with pytest.raises(NotFound):
        choice_update(choice_id=uuid.uuid4(), actor_id=OWNER, text="Who?")
    assert Choice.objects.get().text == "Tea"


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_get_distinct_consecutive_positions():
    poll_id = a_known_poll(owner_id=OWNER)

    def create(n: int) -> int:
        try:
            return choice_create(poll_id=poll_id, actor_id=OWNER, text=f"Choice {n}").position
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        positions = list(pool.map(create, range(16)))

    assert sorted(positions) == list(range(1, 17))
