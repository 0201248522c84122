import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from service_kit.idempotency import request_fingerprint
from service_kit.models import IdempotencyKey
from service_kit.testing import AuthClient
from tests.views import CountedCreateApi

pytestmark = pytest.mark.django_db
URL = reverse("counted")


def _post(client, body: dict, key: str | None = "key-1"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, **extra)


def test_a_retry_with_the_same_key_replays_the_first_answer(auth_client):
    first = _post(auth_client, {"choice": "yes"})
    retried = _post(auth_client, {"choice": "yes"})

    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json() == {"run": 1, "echo": {"choice": "yes"}}
    assert retried["Idempotent-Replayed"] == "true"
    assert len(CountedCreateApi.runs) == 1


def test_without_a_key_every_request_runs(auth_client):
    _post(auth_client, {"choice": "yes"}, key=None)
    _post(auth_client, {"choice": "yes"}, key=None)

    assert len(CountedCreateApi.runs) == 2
    assert not IdempotencyKey.objects.exists()


def test_a_key_reused_with_another_body_is_unprocessable(auth_client):
    _post(auth_client, {"choice": "yes"})

    response = _post(auth_client, {"choice": "no"})

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert set(response.json()) == {"error", "message", "details"}
    assert len(CountedCreateApi.runs) == 1


def test_keys_belong_to_their_user(auth_client):
    _post(auth_client, {"choice": "yes"})

    other = _post(auth_client(user_id="another-user"), {"choice": "no"})

    assert other.status_code == 201
    assert len(CountedCreateApi.runs) == 2


def test_a_key_still_in_flight_is_a_conflict(auth_client, auth_user_id, rf):
    IdempotencyKey.objects.create(
        user_id=f"user:{auth_user_id}", key="key-1", request_fingerprint=_fingerprint_of({"choice": "yes"})
    )

    response = _post(auth_client, {"choice": "yes"})

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_in_flight"
    assert CountedCreateApi.runs == []


def test_a_key_abandoned_in_flight_is_taken_over_after_the_timeout(auth_client, auth_user_id):
    record = IdempotencyKey.objects.create(
        user_id=f"user:{auth_user_id}", key="key-1", request_fingerprint=_fingerprint_of({"choice": "yes"})
    )
    IdempotencyKey.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    response = _post(auth_client, {"choice": "yes"})

    assert response.status_code == 201
    assert len(CountedCreateApi.runs) == 1


def test_an_error_answer_is_stored_and_replayed(auth_client):
    first = _post(auth_client, {"fail": "conflict"})
    retried = _post(auth_client, {"fail": "conflict"})

    assert first.status_code == retried.status_code == 409
    assert retried.json() == first.json()
    assert retried["Idempotent-Replayed"] == "true"


def test_an_unexpected_error_releases_the_key_for_a_retry(auth_client):
    auth_client.raise_request_exception = False

    assert _post(auth_client, {"fail": "bug"}).status_code == 500
    assert not IdempotencyKey.objects.exists()


def test_an_overlong_key_is_a_bad_request(auth_client):
    response = _post(auth_client, {"choice": "yes"}, key="k" * 256)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["details"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_run_the_view_once():
    CountedCreateApi.delay_seconds = 0.3
    client_count = 6
    start_together = threading.Barrier(client_count)
    statuses: list[int] = []
    bodies: list[dict] = []

    def post() -> None:
        client = AuthClient(user_id="storm-user")
        try:
            start_together.wait()
            response = _post(client, {"choice": "yes"}, key="storm")
            statuses.append(response.status_code)
            bodies.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(client_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(CountedCreateApi.runs) == 1
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert all(body["error"] == "idempotency_key_in_flight" for body in bodies if "error" in body)
    assert IdempotencyKey.objects.get().status_code == 201


def _fingerprint_of(body: dict) -> str:
    class FakeRequest:
        method = "POST"
        path = URL
        data = body

    return request_fingerprint(FakeRequest())  # type: ignore[arg-type]
