import pytest
from django.urls import reverse

from service_kit.testing import AuthClient

# The throttles count in the database.
pytestmark = pytest.mark.django_db


def test_a_scope_over_its_rate_is_429_with_retry_after(api_client):
    for _ in range(2):
        assert api_client.get(reverse("tight")).status_code == 200

    response = api_client.get(reverse("tight"))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["error"] == "throttled"
    assert body["details"]["retry_after_seconds"] == int(response["Retry-After"])


def test_users_are_throttled_apart_from_each_other(auth_client):
    other = auth_client(user_id="someone-else")
    for _ in range(2):
        auth_client.get(reverse("tight"))

    assert auth_client.get(reverse("tight")).status_code == 429
    assert other.get(reverse("tight")).status_code == 200
    assert isinstance(other, AuthClient)


@pytest.mark.parametrize(
    ("query", "count_on_page", "has_next"),
    [("", 20, True), ("?page_size=50", 50, True), ("?page_size=1000", 100, True), ("?page=13", 10, False)],
)
def test_pages_are_capped_at_100(api_client, query, count_on_page, has_next):
    body = api_client.get(reverse("items") + query).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 250
    assert len(body["results"]) == count_on_page
    assert bool(body["next"]) is has_next


def test_page_links_carry_neither_the_services_host_nor_its_scheme(api_client):
    body = api_client.get(reverse("items") + "?page=2&page_size=10", HTTP_HOST="testserver").json()

    assert body["next"] == reverse("items") + "?page=3&page_size=10"
    assert body["previous"] == reverse("items") + "?page_size=10"


def test_page_links_start_with_the_configured_public_url(api_client, settings):
    settings.SERVICE_KIT = {"PUBLIC_URL": "https://polls.example.com"}

    body = api_client.get(reverse("items") + "?page=2&page_size=5").json()

    assert body["next"].startswith("https://polls.example.com" + reverse("items") + "?")
    assert body["previous"].startswith("https://polls.example.com" + reverse("items"))


def test_a_page_past_the_end_is_a_json_404(api_client):
    response = api_client.get(reverse("items") + "?page=99")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_paginated_documents_the_page_envelope_around_the_items():
    from rest_framework import serializers

    from service_kit.pagination import paginated

    class ItemSerializer(serializers.Serializer):
        name = serializers.CharField()

        class Meta:
            ref_name = "Item"

    envelope = paginated(ItemSerializer)

    assert type(envelope).__name__ == "PaginatedItemList"
    assert set(envelope.fields) == {"count", "next", "previous", "results"}
    assert envelope.fields["next"].allow_null and envelope.fields["previous"].allow_null
    results = envelope.fields["results"]
    assert isinstance(results, serializers.ListSerializer) and isinstance(results.child, ItemSerializer)


@pytest.mark.parametrize("query", ["?page_size=abc", "?page_size=0", "?page_size=-5", "?page=x", "?page=0", "?page_size=%C2%B2"])
def test_a_page_or_page_size_that_is_no_whole_number_from_1_is_a_400(api_client, query):
    response = api_client.get(reverse("items") + query)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
