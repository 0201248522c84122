from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.urls import reverse
from service_kit.auth import InvalidToken
from service_kit.conf import kit_settings
from service_kit.errors import NotFound

from users.models import Session, User
from users.signing_keys import signing_keys


def user_get_active(*, user_id: str) -> User | None:
    try:
        return User.objects.filter(pk=uuid.UUID(user_id), is_active=True).first()
    except ValueError:
        return None


def token_check(claims: dict[str, Any]) -> None:
    """``SERVICE_KIT["JWT"]["TOKEN_CHECK"]``: the token of a deleted or deactivated user, or of a session that
    ended, is a 401 here at once (the other services learn of it from events). One query: it runs on every
    authenticated request."""
    try:
        user_id = uuid.UUID(str(claims["user_id"]))
        session_id = uuid.UUID(str(claims["sid"])) if claims.get("sid") else None
    except ValueError as error:
        raise InvalidToken("The token names no valid user or session.") from error
    users = User.objects.filter(pk=user_id, is_active=True)
    if session_id is None:
        # A token signed before sessions existed, for at most its five minutes.
        known = users.exists()
        session_live = True
    else:
        live = Session.objects.filter(pk=session_id, user=OuterRef("pk"), revoked_at__isnull=True)
        row = users.annotate(session_live=Exists(live)).values_list("session_live", flat=True).first()
        known, session_live = row is not None, bool(row)
    if not known:
        raise InvalidToken("The user of this token does not exist: deleted, or never registered.")
    if not session_live:
        raise InvalidToken("The session of this token has ended (logged out, or revoked): log in again.")


def user_get(*, user_id: str) -> User:
    user = user_get_active(user_id=user_id)
    if user is None:
        raise NotFound("This user does not exist.", code="user_not_found", details={"user_id": user_id})
    return user


def jwks_document() -> dict[str, Any]:
    """The public keys tokens may be signed with; also how auth-service trusts its own tokens."""
    return signing_keys().jwks()


def openid_configuration() -> dict[str, Any]:
    """OpenID Connect discovery (https://openid.net/specs/openid-connect-discovery-1_0.html) for whoever verifies
    our tokens: the issuer the tokens name and, under it, the keys and the algorithm. Only what a token verifier
    needs: logins are the platform's own /api/auth/token/, so there is no authorization endpoint to announce."""
    issuer = str(kit_settings.JWT["ISSUER"]).rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": issuer + reverse("jwks"),
        "id_token_signing_alg_values_supported": [settings.SIMPLE_JWT["ALGORITHM"]],
        "token_endpoint_auth_signing_alg_values_supported": [settings.SIMPLE_JWT["ALGORITHM"]],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "exp", "iat", "jti", "token_type", "user_id", "username"],
    }
