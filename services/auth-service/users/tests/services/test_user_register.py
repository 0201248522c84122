import pytest
from django_events.testing import captured_events
from service_kit.errors import ApplicationError, Conflict

from users.models import User
from users.services import user_register
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_register_stores_a_hashed_password_and_publishes_user_registered():
    with captured_events() as events:
        user = user_register(username="alice", password=PASSWORD)

    stored = User.objects.get(pk=user.pk)
    assert stored.username == "alice"
    assert stored.password != PASSWORD and stored.check_password(PASSWORD)
    assert [(e.type, e.version, e.key, e.data) for e in events] == [
        ("user.registered", 1, str(user.id), {"user_id": str(user.id), "username": "alice"})
    ]


@pytest.mark.parametrize("password", ["short1", "12345678901", "password123", "alice-alice"])
def test_a_weak_password_is_refused_and_nothing_is_stored(password):
    with captured_events() as events, pytest.raises(ApplicationError) as raised:
        user_register(username="alice-alice", password=password)

    assert raised.value.status == 400
    assert raised.value.details["password"]
    assert not User.objects.exists()
    assert events == []


@pytest.mark.parametrize("second_username", ["alice", "ALICE", "Alice"])
def test_a_taken_username_is_a_conflict_without_an_event(second_username):
    user_register(username="alice", password=PASSWORD)

    with captured_events() as events, pytest.raises(Conflict) as raised:
        user_register(username=second_username, password=PASSWORD)

    assert raised.value.code == "username_taken"
    assert User.objects.count() == 1
    assert events == []
