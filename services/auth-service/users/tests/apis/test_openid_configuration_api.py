import jwt
import pytest
from django.urls import reverse

from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


def test_discovery_names_the_issuer_of_the_tokens_and_the_keys_under_it(api_client, settings):
    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "JWT": {**settings.SERVICE_KIT["JWT"], "ISSUER": "https://polls.example/"}}

    response = api_client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    assert response.json() == {
        "issuer": "https://polls.example",
        "jwks_uri": "https://polls.example" + reverse("jwks"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "exp", "iat", "jti", "token_type", "user_id", "username"],
    }


def test_discovery_needs_no_token_and_ignores_a_bad_one(api_client):
    response = api_client.get("/.well-known/openid-configuration", HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == 200
    assert response.json()["issuer"] == "http://127.0.0.1:8000"


def test_a_token_names_the_issuer_that_discovery_announces(api_client):
    user_create(username="ada")
    access = api_client.post(reverse("token-obtain"), {"username": "ada", "password": PASSWORD}).json()["access"]

    issuer = api_client.get("/.well-known/openid-configuration").json()["issuer"]
    assert jwt.decode(access, options={"verify_signature": False})["iss"] == issuer
