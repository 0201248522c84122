import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from django_events.testing import captured_events
from rest_framework.test import APIClient
from service_kit.testing import make_token, register_known_user

from votes.models import ChoiceTally, Vote
from votes.tests.factories import choice_view_create, poll_view_create

PARALLEL_REQUESTS = 8


def cast_at_once(poll, choice, tokens: list[str]) -> list[tuple[str, int, dict]]:
    """One vote request per token, sent at the same moment from threads of their own: (token, status, body) each."""
    start_together = threading.Barrier(len(tokens))
    answers: list[tuple[str, int, dict]] = []

    def vote(token: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            start_together.wait()
            response = client.post(
                reverse("vote-cast"), {"poll_id": str(poll.id), "choice_id": str(choice.id)}, format="json"
            )
            answers.append((token, response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.django_db(transaction=True)
def test_identical_concurrent_votes_of_one_user_store_exactly_one_vote():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voter_id = str(uuid.uuid4())
    register_known_user(voter_id, "storm")
    token = make_token(user_id=voter_id, username="storm")

    answers = cast_at_once(poll, choice, [token] * PARALLEL_REQUESTS)

    assert sorted(status for _, status, _ in answers) == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert Vote.objects.filter(poll_id=poll.id).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [True, False], ids=["batched", "one by one"])
def test_many_voters_at_once_each_get_their_own_answer_and_their_own_vote_cast(settings, batch):
    settings.VOTES = {**settings.VOTES, "BATCH": batch}
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voters = [str(uuid.uuid4()) for _ in range(PARALLEL_REQUESTS - 3)]
    twice = voters[0]
    requests = [*voters, twice, twice, voters[1]]  # three duplicates among them, maybe in one batch
    token_of = {}
    for voter in voters:
        register_known_user(voter, voter[:8])
        token_of[voter] = make_token(user_id=voter, username=voter[:8])
    voter_of = {token: voter for voter, token in token_of.items()}

    with captured_events() as events:
        answers = [
            (voter_of[token], status, body)
            for token, status, body in cast_at_once(poll, choice, [token_of[v] for v in requests])
        ]

    created = {voter: body["id"] for voter, status, body in answers if status == 201}
    assert sorted(created) == sorted(voters)  # each voter's vote accepted once
    assert sorted(status for _, status, _ in answers) == [201] * len(voters) + [409] * 3
    assert {str(v) for v in Vote.objects.values_list("id", flat=True)} == set(created.values())
    assert sorted(e.data["vote_id"] for e in events if e.type == "vote.cast") == sorted(created.values())
    assert sum(ChoiceTally.objects.filter(poll_id=poll.id).values_list("votes", flat=True)) == len(voters)
