import uuid

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from votes.apis import VoteCastApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_votes_a_minute(monkeypatch):
    # DRF copies the rates onto the throttle class at import, so overriding settings would not reach it.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, VoteCastApi.throttle_scope, "2/min")
    cache.clear()
    yield
    cache.clear()


def test_too_many_votes_are_rate_limited_with_retry_after(auth_client, two_votes_a_minute):
    body = {"poll_id": str(uuid.uuid4()), "choice_id": str(uuid.uuid4())}
    for _ in range(2):
        auth_client.post(reverse("vote-cast"), body, format="json")

    response = auth_client.post(reverse("vote-cast"), body, format="json")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]
