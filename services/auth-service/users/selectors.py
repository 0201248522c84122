from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from service_kit.conf import kit_settings
from service_kit.errors import NotFound

from users.models import User
from users.signing_keys import signing_keys


def user_get_active(*, user_id: str) -> User | None:
    try:
        return User.objects.filter(pk=uuid.UUID(user_id), is_active=True).first()
    except ValueError:
        return None


def user_is_active(user_id: str) -> bool:
    """``SERVICE_KIT["JWT"]["USER_CHECK"]``: a token of a deleted or deactivated user is a 401."""
    return user_get_active(user_id=user_id) is not None


def user_get(*, user_id: str) -> User:
    user = user_get_active(user_id=user_id)
    if user is None:
        raise NotFound("This user does not exist.", code="user_not_found")
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
