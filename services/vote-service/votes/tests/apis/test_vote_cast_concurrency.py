import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient
from service_kit.testing import make_token, register_known_user

from votes.models import Vote
from votes.tests.factories import choice_view_create, poll_view_create

PARALLEL_REQUESTS = 8


@pytest.mark.django_db(transaction=True)
def test_identical_concurrent_votes_of_one_user_store_exactly_one_vote():
    poll = poll_view_create()
    choice = choice_view_create(poll=poll)
    voter_id = str(uuid.uuid4())
    register_known_user(voter_id, "storm")
    token = make_token(user_id=voter_id, username="storm")
    start_together = threading.Barrier(PARALLEL_REQUESTS)
    statuses: list[int] = []

    def vote() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            start_together.wait()
            response = client.post(
                reverse("vote-cast"), {"poll_id": str(poll.id), "choice_id": str(choice.id)}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote) for _ in range(PARALLEL_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert Vote.objects.filter(poll_id=poll.id).count() == 1
