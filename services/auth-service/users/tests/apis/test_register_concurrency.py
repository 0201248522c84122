import threading

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from users.models import User
from users.tests.factories import PASSWORD

PARALLEL_REQUESTS = 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_username_store_one_user():
    start_together = threading.Barrier(PARALLEL_REQUESTS)
    statuses: list[int] = []

    def register(index: int) -> None:
        try:
            start_together.wait()
            # Case differs per request: the case-insensitive constraint must hold under the race too.
            username = "storm" if index % 2 else "STORM"
            response = APIClient().post(reverse("user-register"), {"username": username, "password": PASSWORD})
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(index,)) for index in range(PARALLEL_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert User.objects.count() == 1
