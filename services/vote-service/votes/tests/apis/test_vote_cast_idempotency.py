import pytest
from django.urls import reverse

from votes import services
from votes.batching import Committer
from votes.models import Vote
from votes.tests.factories import choice_view_create, poll_view_create

pytestmark = pytest.mark.django_db

URL = reverse("vote-cast")

@pytest.fixture
def poll():
    return poll_view_create()


def test_a_retried_vote_with_the_same_key_replays_the_first_answer(auth_client, poll):
    body = {"poll_id": str(poll.id), "choice_id": str(choice_view_create(poll=poll).id)}

    first = auth_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    retried = auth_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")

    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json()
    assert Vote.objects.count() == 1


def test_a_key_reused_with_another_body_is_unprocessable(auth_client, poll):
    yes, no = choice_view_create(poll=poll, text="Yes"), choice_view_create(poll=poll, text="No", position=1)
    auth_client.post(URL, {"poll_id": str(poll.id), "choice_id": str(yes.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    response = auth_client.post(
        URL, {"poll_id": str(poll.id), "choice_id": str(no.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422
    assert set(response.json()) >= {"error", "message", "details"}
    assert Vote.objects.get().choice_id == yes.id


def test_without_a_key_a_repeated_vote_is_a_conflict(auth_client, poll):
    body = {"poll_id": str(poll.id), "choice_id": str(choice_view_create(poll=poll).id)}
    auth_client.post(URL, body, format="json")

    assert auth_client.post(URL, body, format="json").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_a_vote_with_a_key_commits_with_its_stored_answer_outside_the_batch(auth_client, monkeypatch, settings):
    settings.VOTES = {**settings.VOTES, "BATCH": True}
    # The key's stored answer and the vote commit in one transaction, so such a vote never waits for a batch.
    def never(votes, events):
        raise AssertionError("a vote with an Idempotency-Key went to the batch")

    monkeypatch.setattr(services, "_committer", lambda: Committer(never))
    poll = poll_view_create()
    body = {"poll_id": str(poll.id), "choice_id": str(choice_view_create(poll=poll).id)}

    first = auth_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="committed-1")
    retried = auth_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="committed-1")

    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json() and retried.headers["Idempotent-Replayed"] == "true"
    assert Vote.objects.count() == 1
