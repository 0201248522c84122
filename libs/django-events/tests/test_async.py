"""apublish() and the middleware in async code: an ``async def`` view behind Django's ASGI request handling."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, RequestFactory
from django.urls import path

import django_events
from django_events.middleware import CorrelationIdMiddleware
from django_events.models import OutboxEvent
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


@transaction.atomic
def create_note(text: str) -> Note:
    """The synchronous service an async view awaits to write and publish in one transaction."""
    note = Note.objects.create(text=text)
    django_events.publish("note.created", key=str(note.id), data={"note_id": str(note.id), "text": text})
    if text == "refused":
        raise ValueError("refused after publishing")
    return note


async def note_view(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    if body.get("atomic"):
        try:
            note = await sync_to_async(create_note)(body["text"])
        except ValueError as error:
            return JsonResponse({"error": str(error)}, status=400)
        return JsonResponse({"id": note.id}, status=201)
    event = await django_events.apublish("note.created", key="n1", data={"note_id": "n1", "text": body["text"]})
    return JsonResponse({"event": str(event.id)}, status=202)


urlpatterns = [path("notes", note_view)]


@pytest.fixture
def async_app(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = ["django_events.middleware.CorrelationIdMiddleware"]


def post(body: dict[str, object], **headers: str):
    return async_to_sync(AsyncClient().post)("/notes", body, content_type="application/json", headers=headers)


def test_apublish_in_an_async_view_commits_the_event_with_the_request_s_correlation_id(async_app) -> None:
    response = post({"text": "hi"}, **{"X-Request-ID": "req-42"})

    assert response.status_code == 202 and response["X-Request-ID"] == "req-42"
    row = OutboxEvent.objects.get()
    event = django_events.Event.from_json(row.payload)
    assert (str(event.id), event.correlation_id, event.data["text"]) == (response.json()["event"], "req-42", "hi")


def test_an_async_view_writes_and_publishes_atomically_through_a_synchronous_service(async_app) -> None:
    created = post({"text": "kept", "atomic": True}, **{"X-Request-ID": "req-1"})
    refused = post({"text": "refused", "atomic": True})

    assert (created.status_code, refused.status_code) == (201, 400)
    assert list(Note.objects.values_list("text", flat=True)) == ["kept"]
    events = [django_events.Event.from_json(p) for p in OutboxEvent.objects.values_list("payload", flat=True)]
    assert [(e.data["text"], e.correlation_id) for e in events] == [("kept", "req-1")]  # the refused one rolled back


def test_apublish_outside_a_view_takes_the_context_s_correlation_id_and_commits_on_its_own() -> None:
    async def publish_two() -> list[django_events.Event]:
        with django_events.correlation("job-7"):
            return [
                await django_events.apublish("tick.happened", key="k", data={"n": n}) for n in range(2)
            ]

    events = async_to_sync(publish_two)()

    rows = [django_events.Event.from_json(p) for p in OutboxEvent.objects.order_by("seq").values_list("payload", flat=True)]
    assert [e.id for e in rows] == [e.id for e in events] and {e.correlation_id for e in rows} == {"job-7"}


def test_the_middleware_stays_synchronous_in_a_synchronous_stack() -> None:
    middleware = CorrelationIdMiddleware(lambda request: JsonResponse({"id": django_events.current_correlation_id()}))
    response = middleware(RequestFactory().get("/", headers={"X-Request-ID": "sync-1"}))
    assert isinstance(response, JsonResponse) and json.loads(response.content) == {"id": "sync-1"}
    assert not iscoroutinefunction(middleware)


def test_an_async_handler_is_refused_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match="is async"):

        @django_events.handles("note.created")
        async def on_note(event: django_events.Event) -> None: ...


def test_the_middleware_runs_on_the_event_loop_before_an_async_view() -> None:
    assert iscoroutinefunction(CorrelationIdMiddleware(note_view))
