import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse
from rest_framework import serializers

from service_kit.serializers import represent

pytestmark = pytest.mark.django_db


def test_a_strict_input_serializer_accepts_what_it_declares(api_client):
    response = api_client.post(reverse("strict-echo"), {"question": "Tea?"}, format="json")

    assert response.status_code == 201
    assert response.json() == {"question": "Tea?"}


def test_a_field_it_does_not_declare_is_a_400_naming_that_field(api_client):
    response = api_client.post(reverse("strict-echo"), {"question": "Tea?", "owner_id": "someone"}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {"owner_id": ["This field is not accepted here."]}
    assert response.json()["message"] == "owner_id: This field is not accepted here."


@pytest.mark.parametrize("raw", ["null", "[]", '"question"', "42", '{"question": '])
def test_a_body_that_is_not_a_json_object_is_a_400(api_client, raw):
    response = api_client.post(reverse("strict-echo"), data=raw, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {"error", "message", "details"}


@pytest.mark.parametrize("question", [1.4e-45, 42, True, ["Tea?"], {"q": "Tea?"}])
def test_a_value_of_another_json_type_is_refused_not_coerced(api_client, question):
    response = api_client.post(reverse("strict-echo"), {"question": question}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["details"] == {"question": ["Must be a string."]}


class _Thing:
    def __init__(self, number: int) -> None:
        self.id = uuid.uuid4()
        self.number = number
        self.at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class _ThingOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    double = serializers.SerializerMethodField()

    def get_double(self, thing: _Thing) -> int:
        return thing.number * 2


def test_represent_is_what_data_is_with_one_serializer_shared_between_threads() -> None:
    things = [_Thing(number) for number in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        shared = list(pool.map(lambda thing: represent(_ThingOutput, thing), things))
    assert shared == [_ThingOutput(thing).data for thing in things]
    assert shared[3]["double"] == 6
