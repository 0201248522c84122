"""The monolith's public API (the platform's paths and shapes), what it publishes once MONOLITH_EVENTS is on, the
backfill, and the events it applies once the services take its seams' writes (vote.cast, choice.*, poll.*)."""

import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_events.models import OutboxEvent
from django_events.testing import captured_events
from event_contracts.payloads import (
    ChoiceCreated,
    ChoiceDeleted,
    ChoiceUpdated,
    PollClosed,
    PollCreated,
    PollDeleted,
    PollUpdated,
    VoteCast,
)
from monolith.choices.handlers import (
    drop_choice_deleted_elsewhere,
    keep_choice_created_elsewhere,
    keep_choice_updated_elsewhere,
)
from monolith.polls.handlers import (
    drop_poll_deleted_elsewhere,
    keep_poll_closed_elsewhere,
    keep_poll_created_elsewhere,
    keep_poll_updated_elsewhere,
)
from monolith.polls.models import Poll
from monolith.votes.handlers import count_vote_cast_elsewhere
from monolith.votes.services import vote_cast

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


def test_the_backfill_publishes_every_vote_in_short_transactions(auth_client, settings):
    poll_id, (first, second) = a_poll(auth_client)
    voters = [str(uuid.uuid4()) for _ in range(5)]
    for n, voter in enumerate(voters):
        vote_cast(poll_id=uuid.UUID(poll_id), choice_id=uuid.UUID((first, second)[n % 2]), voter_id=voter)
    settings.MONOLITH_EVENTS = "publish"

    with captured_events() as events:
        call_command("monolith_backfill", batch=2)

    assert [e.type for e in events] == ["poll.created", "choice.created", "choice.created"] + ["vote.cast"] * 5
    assert sorted(e.data["voter_id"] for e in events if e.type == "vote.cast") == sorted(voters)


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


def test_choices_created_changed_and_deleted_in_choice_service_are_in_the_monolith(auth_client, api_client):
    poll_id, (first, _) = a_poll(auth_client)
    elsewhere = ChoiceCreated(choice_id=uuid.uuid4(), poll_id=uuid.UUID(poll_id), text="made elsewhere", position=3)
    keep_choice_created_elsewhere(elsewhere)
    keep_choice_created_elsewhere(elsewhere)  # redelivered
    # This monolith's own choice coming back: already here.
    keep_choice_created_elsewhere(ChoiceCreated(choice_id=uuid.UUID(first), poll_id=uuid.UUID(poll_id),
                                                text="not this", position=1))
    keep_choice_updated_elsewhere(ChoiceUpdated(**{**elsewhere.__dict__, "text": "renamed elsewhere"}))

    def texts() -> list[str]:
        return [c["text"] for c in api_client.get("/api/choices/", {"poll_id": poll_id}).json()["results"]]

    assert texts() == ["choice 0", "choice 1", "renamed elsewhere"]
    drop_choice_deleted_elsewhere(ChoiceDeleted(choice_id=elsewhere.choice_id, poll_id=elsewhere.poll_id))
    assert texts() == ["choice 0", "choice 1"]


def test_polls_created_closed_and_deleted_in_polls_service_are_in_the_monolith(auth_client, api_client):
    poll_id, _ = a_poll(auth_client)
    elsewhere = PollCreated(poll_id=uuid.uuid4(), question="Asked elsewhere", owner_id="owner-1", status="open",
                            closes_at=None, created_at=timezone.now())
    keep_poll_created_elsewhere(elsewhere)
    keep_poll_created_elsewhere(elsewhere)  # redelivered
    keep_poll_created_elsewhere(PollCreated(**{**elsewhere.__dict__, "poll_id": uuid.UUID(poll_id),
                                               "question": "not this"}))  # its own, coming back
    keep_poll_updated_elsewhere(PollUpdated(poll_id=elsewhere.poll_id, question="Changed elsewhere", status="open",
                                            closes_at=None))
    keep_poll_closed_elsewhere(PollClosed(poll_id=elsewhere.poll_id, closed_at=timezone.now()))

    page = api_client.get(f"/api/polls/{elsewhere.poll_id}/").json()
    assert (page["question"], page["status"]) == ("Changed elsewhere", "closed")
    assert api_client.get(f"/api/polls/{poll_id}/").json()["question"] == "Tea or coffee?"
    drop_poll_deleted_elsewhere(PollDeleted(poll_id=elsewhere.poll_id))
    assert api_client.get(f"/api/polls/{elsewhere.poll_id}/").status_code == 404
