from __future__ import annotations

import uuid
from typing import Any

from rest_framework.test import APIClient

from .testing import make_token


class AuthClient(APIClient):
    """An APIClient sending a valid token for ``user_id``; ``auth_client(user_id=...)`` gives another user's."""

    def __init__(self, *, user_id: str, username: str = "alice", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.username = username
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=user_id, username=username)}")

    def __call__(self, user_id: str | None = None, username: str | None = None) -> AuthClient:
        new_id = user_id or str(uuid.uuid4())
        return AuthClient(user_id=new_id, username=username or f"user-{new_id[:8]}")
