"""Verifies auth-service's RS256 access tokens locally, with no call to auth-service per request; whether the
token's user still exists and its session still holds is checked against the service's own data
(``TOKEN_CHECK``)."""

from __future__ import annotations

import binascii
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from jwt.utils import base64url_decode
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .conf import kit_settings, on_reload
from .jwks import trusted_keys

ALGORITHM = "RS256"


@dataclass(frozen=True)
class TokenUser:
    """The caller as its access token describes it; the user lives in auth-service, not here."""

    id: str
    username: str = ""
    claims: dict[str, Any] | None = None

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> str:
        return self.id

    def __str__(self) -> str:
        return self.username or self.id


class InvalidToken(exceptions.AuthenticationFailed):
    default_code = "invalid_token"


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's header alone. ``jwt.get_unverified_header`` decodes the payload and the signature as well,
    which ``jwt.decode`` then does again, on every authenticated request."""
    try:
        header = json.loads(base64url_decode(token.split(".", 1)[0].encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError) as error:
        raise InvalidToken(f"Malformed token: {error}") from error
    if not isinstance(header, dict) or token.count(".") != 2:
        raise InvalidToken("Malformed token: not a signed JWT (header.payload.signature).")
    return header


def verify_access_token(token: str) -> dict[str, Any]:
    """The claims of a valid access token, else ``InvalidToken`` saying what is wrong with it."""
    header = _unverified_header(token)
    # Checked before any key is chosen: alg=none and HS256 keyed with our public key must never reach decode.
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"Token algorithm {header.get('alg')!r} is not accepted; tokens are signed with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("Token has no key id (kid).")
    key = trusted_keys.get(kid)
    if key is None:
        raise InvalidToken("Token is signed with an unknown key.")
    jwt_settings = kit_settings.JWT
    if not jwt_settings["ISSUER"] or not jwt_settings["AUDIENCE"]:
        raise ImproperlyConfigured('SERVICE_KIT["JWT"] needs ISSUER and AUDIENCE (or $JWT_ISSUER and $JWT_AUDIENCE)')
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=jwt_settings["AUDIENCE"],
            issuer=jwt_settings["ISSUER"],
            leeway=jwt_settings["LEEWAY_SECONDS"],
            options={"require": ["exp", "iss", "aud", "token_type", "user_id"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("Token has expired.") from error
    except jwt.InvalidAudienceError as error:
        raise InvalidToken("Token is not meant for this platform (audience).") from error
    except jwt.InvalidIssuerError as error:
        raise InvalidToken("Token was not issued by the trusted issuer.") from error
    except jwt.InvalidSignatureError as error:
        raise InvalidToken("Token signature is invalid.") from error
    except jwt.MissingRequiredClaimError as error:
        raise InvalidToken(f"Token lacks the {error.claim!r} claim.") from error
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"Token is invalid: {error}") from error
    if claims["token_type"] != "access":
        raise InvalidToken("Token is not an access token.")
    return claims


@functools.cache
def _token_check() -> Callable[[dict[str, Any]], None] | None:
    path = kit_settings.JWT["TOKEN_CHECK"]
    return import_string(path) if path else None


on_reload(_token_check.cache_clear)


def token_check(claims: dict[str, Any]) -> None:
    """Refuses (``InvalidToken``) a valid token whose user is gone or whose session ended, by
    ``SERVICE_KIT["JWT"]["TOKEN_CHECK"]``."""
    check = _token_check()
    if check is not None:
        check(claims)


class JWTAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>``; no header means anonymous, a bad token means 401."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise InvalidToken("Authorization header must be 'Bearer <token>'.")
        claims = verify_access_token(parts[1])
        token_check(claims)
        user = TokenUser(id=str(claims["user_id"]), username=str(claims.get("username", "")), claims=claims)
        return user, parts[1]

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
