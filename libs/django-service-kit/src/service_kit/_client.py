from __future__ import annotations

import uuid
from typing import Any

from rest_framework.test import APIClient

from ._tokens import make_token, register_known_user


class AuthClient(APIClient):
    """An APIClient sending a valid token for ``user_id``, a user the service knows; ``auth_client(user_id=...)``
    gives another user's, ``known=False`` one whose registration never arrived."""

    def __init__(self, *, user_id: str, username: str = "alice", known: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if known:
            register_known_user(user_id, username)
        self.user_id = user_id
        self.username = username
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=user_id, username=username)}")

    def __call__(self, user_id: str | None = None, username: str | None = None, *, known: bool = True) -> AuthClient:
        new_id = user_id or str(uuid.uuid4())
        return AuthClient(user_id=new_id, username=username or f"user-{new_id[:8]}", known=known)
