import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse
from service_kit.auth import verify_access_token
from service_kit.testing import TEST_JWT_SETTINGS

from users.signing_keys import signing_keys
from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


def _write_key(path, key: rsa.RSAPrivateKey, *, public: bool = False) -> str:
    if public:
        data = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(data)
    return str(path)


def _access_token(api_client, username: str = "ada") -> str:
    return api_client.post(reverse("token-obtain"), {"username": username, "password": PASSWORD}).json()["access"]


def _trust_only(settings, jwks: dict) -> None:
    """Another service's view of the world: nothing but the JWKS document auth-service published."""
    settings.SERVICE_KIT = {"SERVICE": "other-service", "JWT": {**TEST_JWT_SETTINGS, "PUBLIC_KEYS": jwks["keys"]}}


def test_jwks_lists_the_public_signing_key(api_client):
    response = api_client.get(reverse("jwks"))

    assert response.status_code == 200
    assert [key["kid"] for key in response.json()["keys"]] == [signing_keys().kid]


def test_a_token_of_auth_service_verifies_in_another_service_with_only_the_jwks(api_client, settings):
    user = user_create(username="ada")
    token = _access_token(api_client)
    jwks = api_client.get(reverse("jwks")).json()

    _trust_only(settings, jwks)

    claims = verify_access_token(token)
    assert (claims["user_id"], claims["username"]) == (str(user.id), "ada")


def test_during_a_rotation_tokens_of_the_old_and_the_next_key_both_verify(api_client, settings, tmp_path):
    user_create(username="ada")
    current, upcoming = rsa.generate_private_key(public_exponent=65537, key_size=2048), rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    )
    # Before the switch: sign with the current key, publish the next one already.
    settings.JWT_SIGNING = {
        "PRIVATE_KEY_FILE": _write_key(tmp_path / "current.pem", current),
        "EXTRA_PUBLIC_KEY_FILES": [_write_key(tmp_path / "next.pub.pem", upcoming, public=True)],
    }
    token_before = _access_token(api_client)
    published_before = api_client.get(reverse("jwks")).json()
    assert len(published_before["keys"]) == 2

    # After the switch: sign with the next key, keep publishing the previous one until old tokens expire.
    settings.JWT_SIGNING = {
        "PRIVATE_KEY_FILE": _write_key(tmp_path / "next.pem", upcoming),
        "EXTRA_PUBLIC_KEY_FILES": [_write_key(tmp_path / "current.pub.pem", current, public=True)],
    }
    token_after = _access_token(api_client)
    published_after = api_client.get(reverse("jwks")).json()

    # A service that fetched the JWKS before the switch accepts the new tokens, and one after accepts the old.
    _trust_only(settings, published_before)
    verify_access_token(token_before)
    verify_access_token(token_after)
    _trust_only(settings, published_after)
    verify_access_token(token_before)
    verify_access_token(token_after)


def test_a_generated_development_key_is_written_once_and_reused(settings, tmp_path):
    key_file = tmp_path / "jwt" / "private.pem"
    settings.JWT_SIGNING = {"GENERATED_PRIVATE_KEY_FILE": key_file}
    first_kid = signing_keys().kid

    settings.JWT_SIGNING = {"GENERATED_PRIVATE_KEY_FILE": key_file}

    assert signing_keys().kid == first_kid
    assert key_file.stat().st_mode & 0o077 == 0


def test_without_a_key_file_production_refuses_to_sign(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.JWT_SIGNING = {"PRIVATE_KEY_FILE": None, "GENERATED_PRIVATE_KEY_FILE": None}

    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY_FILE"):
        signing_keys()
