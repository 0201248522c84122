"""The read-only dead-letter admin: its redrive and skip actions act as events_dead_letters does."""

from typing import Any

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.sites import AdminSite
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import RequestFactory

from django_events import dead_letters
from django_events.admin import DeadLetterAdmin
from django_events.envelope import topic_for
from django_events.models import DeadLetter
from django_events.testing import make_event
from django_events.wire import Message
from tests.testapp.models import Applied

pytestmark = pytest.mark.django_db


class Operator:
    """The admin's user, granted the permission to change dead letters or not."""

    def __init__(self, *, may_change: bool) -> None:
        self.may_change = may_change

    def has_perm(self, permission: str, obj: Any = None) -> bool:
        return self.may_change and permission == "django_events.change_deadletter"


def refused(key: str, seq: int, offset: int) -> DeadLetter:
    """A poison tick the consumer dead-lettered."""
    event = make_event("tick.happened", {"seq": seq, "poison": True}, key=key)
    message = Message(topic_for(event.type), key=key.encode(), value=event.to_json().encode(), partition=0, offset=offset)
    dead_letters.record(message, event, "ValueError: this tick is poison", parks=False, using="default")
    return DeadLetter.objects.get(offset=offset)


def act(action: str, *dead: DeadLetter, reason: str = "", may_change: bool = True) -> tuple[HttpRequest, list[str]]:
    request = RequestFactory().post("/", {"action": action, helpers.ACTION_CHECKBOX_NAME: [d.pk for d in dead],
                                          "index": 0, "reason": reason})
    request.user = Operator(may_change=may_change)  # type: ignore[assignment]
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    model_admin = DeadLetterAdmin(DeadLetter, AdminSite())
    model_admin.response_action(request, DeadLetter.objects.filter(pk__in=[d.pk for d in dead]))
    return request, [str(m) for m in request._messages]  # type: ignore[attr-defined]


def test_the_admin_shows_dead_letters_read_only_and_offers_its_actions_to_who_may_change_them():
    request = RequestFactory().get("/")
    model_admin = DeadLetterAdmin(DeadLetter, AdminSite())
    for may_change, actions in [(True, {"redrive", "skip"}), (False, set())]:
        request.user = Operator(may_change=may_change)  # type: ignore[assignment]
        assert set(model_admin.get_actions(request)) == actions
        assert not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
                    or model_admin.has_delete_permission(request))


def test_the_admin_redrives_and_skips_through_the_same_path_as_the_command(monkeypatch):
    first, second = refused("key-a", 1, offset=10), refused("key-b", 2, offset=11)

    _, said = act("redrive", first)
    assert said == [f"dead letter {first.pk} failed again: ValueError: this tick is poison"]
    _, said = act("redrive", first, may_change=False)
    assert said == ["No action selected."]  # not offered: nothing ran
    monkeypatch.setenv("TESTAPP_CURED", "1")
    _, said = act("redrive", first)
    assert said == [f"dead letter {first.pk} redriven: applied to 1 subscriber(s); 0 held event(s) released"]
    assert list(Applied.objects.values_list("key", "seq")) == [("key-a", 1)]

    _, said = act("skip", second, reason=" ")
    assert said == [f"dead letter {second.pk}: a skip needs a reason"]
    _, said = act("skip", first, second, reason="TICKET-9: entered by hand")
    assert said == [f"dead letter {first.pk}: dead letter {first.pk} is redriven already (applied to 1 subscriber(s))",
                    f"dead letter {second.pk} skipped; 0 held event(s) released"]
    second.refresh_from_db()
    assert (second.status, second.resolution) == ("skipped", "TICKET-9: entered by hand")
    assert Applied.objects.count() == 1
