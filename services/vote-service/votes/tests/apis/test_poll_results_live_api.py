"""The results as they change, streamed through the web process's application as uvicorn drives it (Django's
test clients wait for a whole body, which a stream never ends)."""

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.urls import reverse
from service_kit.asgi import get_threaded_application
from service_kit.testing import assert_error_body, open_stream

from votes.services import vote_cast
from votes.tests.factories import choice_view_create, poll_view_create

# The stream's feed reads on threads of its own, which see committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _quick_feeds(settings):
    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "LIVE": {**settings.SERVICE_KIT.get("LIVE", {}), "READ_EVERY_MS": 5}}


def _path(poll_id: uuid.UUID) -> str:
    return reverse("poll-results-live", kwargs={"poll_id": poll_id})


@sync_to_async(thread_sensitive=False)
def _vote_elsewhere(**vote: Any) -> None:
    """A vote cast by someone else, on another thread, while the stream is open."""
    try:
        vote_cast(**vote, voter_id=str(uuid.uuid4()))
    finally:
        connections.close_all()


def _run(scenario: Any) -> None:
    asyncio.run(scenario(get_threaded_application()))


def test_a_watcher_gets_the_results_at_once_then_a_vote_cast_by_someone_else():
    poll = poll_view_create()
    yes = choice_view_create(poll=poll, text="Yes", position=0)

    async def scenario(app: Any) -> None:
        stream = await open_stream(app, _path(poll.id), {"Accept": "text/event-stream"})
        first = await stream.next_data_event()
        await _vote_elsewhere(poll_id=poll.id, choice_id=yes.id)
        second = await stream.next_data_event()
        await stream.close()

        assert (stream.status, stream.headers["content-type"]) == (200, "text/event-stream")
        assert json.loads(first["data"]) == {
            "poll_id": str(poll.id), "total": 0, "choices": [{"choice_id": str(yes.id), "text": "Yes", "votes": 0}],
        }
        assert json.loads(second["data"])["total"] == 1
        assert first["id"] != second["id"]

    _run(scenario)


def test_a_watcher_reconnecting_with_the_current_version_gets_only_the_next_change():
    poll = poll_view_create()
    yes = choice_view_create(poll=poll, text="Yes", position=0)

    async def scenario(app: Any) -> None:
        first = await open_stream(app, _path(poll.id))
        current = (await first.next_data_event())["id"]
        await first.close()
        again = await open_stream(app, _path(poll.id), {"Last-Event-ID": current})
        await _vote_elsewhere(poll_id=poll.id, choice_id=yes.id)
        event = await again.next_data_event()
        await again.close()

        assert json.loads(event["data"])["total"] == 1

    _run(scenario)


def test_an_unknown_poll_is_a_json_404_as_for_its_results():
    async def scenario(app: Any) -> None:
        stream = await open_stream(app, _path(uuid.uuid4()), {"Accept": "text/event-stream"})
        body = await stream.json()
        await stream.close()

        assert (stream.status, stream.headers["content-type"]) == (404, "application/json")
        assert_error_body(body, 404)
        assert body["error"] == "poll_not_known"

    _run(scenario)
