"""The monolith's public API (the platform's paths and shapes), what it publishes once MONOLITH_EVENTS is on, the
backfill, and the vote.cast it applies once vote-service takes the votes."""

import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_events.models import OutboxEvent
from django_events.testing import captured_events
from event_contracts.payloads import VoteCast
from monolith.polls.models import Poll
from monolith.votes.handlers import count_vote_cast_elsewhere

pytestmark = pytest.mark.django_db


def a_poll(client, choices: int = 2) -> tuple[str, list[str]]:
    poll = client.post("/api/polls/", {"question": "Tea or coffee?"}, format="json")
    assert poll.status_code == 201, poll.content
    choice_ids = []
    for n in range(choices):
        choice = client.post("/api/choices/", {"poll_id": poll.json()["id"], "text": f"choice {n}"}, format="json")
        assert choice.status_code == 201, choice.content
        choice_ids.append(choice.json()["id"])
    return poll.json()["id"], choice_ids


def test_a_poll_its_choices_and_a_vote_through_the_platforms_paths_publish_nothing(auth_client, api_client):
    with captured_events() as events:
        poll_id, (first, _) = a_poll(auth_client)
        vote = auth_client.post("/api/votes/", {"poll_id": poll_id, "choice_id": first}, format="json")
        again = auth_client.post("/api/votes/", {"poll_id": poll_id, "choice_id": first}, format="json")

    assert vote.status_code == 201, vote.content
    assert again.status_code == 409 and again.json()["error"] == "already_voted"
    results = api_client.get(f"/api/votes/results/{poll_id}/").json()
    assert results["total"] == 1 and [c["votes"] for c in results["choices"]] == [1, 0]
    assert api_client.get(f"/api/polls/{poll_id}/").json()["total_votes"] == 1
    assert [c["id"] for c in api_client.get("/api/choices/", {"poll_id": poll_id}).json()["results"]] != []
    assert events == []


def test_bad_input_is_answered_with_what_is_wrong(auth_client):
    unknown = auth_client.post("/api/votes/", {"poll_id": str(uuid.uuid4()), "choice_id": str(uuid.uuid4())},
                               format="json")
    assert unknown.status_code == 404 and unknown.json()["error"] == "poll_not_found"
    malformed = auth_client.post("/api/polls/", {"question": ""}, format="json")
    assert malformed.status_code == 400 and "question" in malformed.json()["details"]


def test_once_publishing_each_write_publishes_its_contracts_event(auth_client, publishing):
    with captured_events() as events:
        poll_id, (first, _) = a_poll(auth_client)
        auth_client.post("/api/votes/", {"poll_id": poll_id, "choice_id": first}, format="json")

    assert [(e.type, e.key, e.source) for e in events] == [
        ("poll.created", poll_id, "monolith"), ("choice.created", poll_id, "monolith"),
        ("choice.created", poll_id, "monolith"), ("vote.cast", poll_id, "monolith"),
    ]


def test_the_backfill_publishes_what_exists_poll_first(auth_client, settings):
    poll_id, (first, _) = a_poll(auth_client)
    auth_client.post("/api/votes/", {"poll_id": poll_id, "choice_id": first}, format="json")
    settings.MONOLITH_EVENTS = "publish"

    with captured_events() as events:
        call_command("monolith_backfill")

    assert [e.type for e in events] == ["poll.created", "choice.created", "choice.created", "vote.cast"]
    assert {e.key for e in events} == {poll_id}


def test_the_backfill_refuses_to_run_before_every_process_publishes(auth_client):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("monolith_backfill")
    assert not OutboxEvent.objects.exists()


def test_a_vote_cast_in_vote_service_is_counted_once(auth_client, api_client, auth_user_id):
    poll_id, (first, second) = a_poll(auth_client)
    elsewhere = VoteCast(vote_id=uuid.uuid4(), poll_id=uuid.UUID(poll_id), choice_id=uuid.UUID(second),
                         voter_id="someone-else", created_at=timezone.now())
    count_vote_cast_elsewhere(elsewhere)
    count_vote_cast_elsewhere(elsewhere)  # redelivered
    # The same voter again under another id: its vote is already counted.
    count_vote_cast_elsewhere(VoteCast(**{**elsewhere.__dict__, "vote_id": uuid.uuid4()}))

    assert Poll.objects.get(pk=poll_id).total_votes == 1
    assert [c["votes"] for c in api_client.get(f"/api/votes/results/{poll_id}/").json()["choices"]] == [0, 1]
