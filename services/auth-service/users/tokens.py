"""simplejwt, extended thinly: RS256 with a ``kid`` header, verified by the key that kid names."""

from __future__ import annotations

from typing import Any

import jwt
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from users.signing_keys import SigningKeys, signing_keys


class KeyIdTokenBackend(TokenBackend):
    def __init__(self, keys: SigningKeys) -> None:
        super().__init__(
            api_settings.ALGORITHM,
            signing_key=keys.private_pem.decode(),
            audience=api_settings.AUDIENCE,
            issuer=api_settings.ISSUER,
            leeway=api_settings.LEEWAY,
        )
        self.keys = keys

    def encode(self, payload: dict[str, Any]) -> str:
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        return jwt.encode(
            claims, self.prepared_signing_key, algorithm=self.algorithm, headers={"kid": self.keys.kid},
            json_encoder=self.json_encoder,
        )

    def get_verifying_key(self, token: Any) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as error:
            raise TokenBackendError("Token is invalid") from error
        key = self.keys.published.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenBackendError("Token is signed with an unknown key")
        return key


_backend: KeyIdTokenBackend | None = None


def token_backend() -> KeyIdTokenBackend:
    global _backend
    keys = signing_keys()
    # Rebuilt when the keys are reloaded (a rotation in tests), so it never signs with a stale key.
    if _backend is None or _backend.keys is not keys:
        _backend = KeyIdTokenBackend(keys)
    return _backend


class SignedAccessToken(AccessToken):
    def get_token_backend(self) -> TokenBackend:
        return token_backend()


class SignedRefreshToken(RefreshToken):
    access_token_class = SignedAccessToken

    def get_token_backend(self) -> TokenBackend:
        return token_backend()
