import uuid

import pytest
from service_kit.errors import NotFound

from users.selectors import jwks_document, user_get
from users.signing_keys import signing_keys
from users.tests.factories import user_create

pytestmark = pytest.mark.django_db


def test_user_get_finds_an_active_user():
    user = user_create()

    assert user_get(user_id=str(user.id)) == user


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_user_get_of_an_unknown_user_is_not_found(user_id):
    with pytest.raises(NotFound):
        user_get(user_id=user_id)


def test_user_get_hides_inactive_users():
    with pytest.raises(NotFound):
        user_get(user_id=str(user_create(is_active=False).id))


def test_jwks_document_publishes_the_signing_key_only_as_a_public_key():
    document = jwks_document()

    assert [key["kid"] for key in document["keys"]] == [signing_keys().kid]
    key = document["keys"][0]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
