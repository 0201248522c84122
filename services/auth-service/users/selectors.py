from __future__ import annotations

import uuid
from typing import Any

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
