import jwt
import pytest
from service_kit.errors import ApplicationError

from users.services import InvalidCredentials, token_pair_issue, token_refresh
from users.signing_keys import signing_keys
from users.tests.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_issued_tokens_are_rs256_with_kid_issuer_audience_and_a_five_minute_access():
    user = user_create(username="ada")

    pair = token_pair_issue(username="ada", password=PASSWORD)

    header = jwt.get_unverified_header(pair.access)
    assert header["alg"] == "RS256"
    assert header["kid"] == signing_keys().kid
    access = _claims(pair.access)
    assert access["token_type"] == "access"
    assert access["user_id"] == str(user.id)
    assert access["username"] == "ada"
    assert (access["iss"], access["aud"]) == ("http://127.0.0.1:8000", "polls-platform")
    assert access["exp"] - access["iat"] == 300
    assert _claims(pair.refresh)["token_type"] == "refresh"


@pytest.mark.parametrize(("username", "password"), [("ada", "wrong-password"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_refused_alike(username, password):
    user_create(username="ada")

    with pytest.raises(InvalidCredentials) as raised:
        token_pair_issue(username=username, password=password)

    assert raised.value.status == 401


def test_an_inactive_user_gets_no_token():
    user_create(username="ada", is_active=False)

    with pytest.raises(InvalidCredentials):
        token_pair_issue(username="ada", password=PASSWORD)


def test_refresh_gives_a_new_access_token():
    user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)

    access = token_refresh(refresh=pair.refresh).access

    assert _claims(access)["token_type"] == "access"
    assert _claims(access)["username"] == "ada"
    assert jwt.get_unverified_header(access)["kid"] == signing_keys().kid


def test_an_access_token_cannot_refresh():
    user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)

    with pytest.raises(ApplicationError) as raised:
        token_refresh(refresh=pair.access)

    assert raised.value.status == 401


def test_a_deactivated_user_cannot_refresh():
    user = user_create(username="ada")
    pair = token_pair_issue(username="ada", password=PASSWORD)
    user.is_active = False
    user.save()

    with pytest.raises(ApplicationError) as raised:
        token_refresh(refresh=pair.refresh)

    assert raised.value.status == 401
