"""The RSA key auth-service signs with, and the public keys it publishes (JWKS).

Kids are RFC 7638 thumbprints, so a service given the bare PEM derives the same kid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from service_kit.jwks import jwk_thumbprint, public_jwk

KEY_SIZE = 2048


@dataclass(frozen=True)
class SigningKeys:
    private_key: rsa.RSAPrivateKey
    kid: str
    published: dict[str, rsa.RSAPublicKey]

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [public_jwk(key, kid=kid) for kid, key in self.published.items()]}


def _load_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured(f"{path} is not an RSA private key")
    return key


def _generate_into(path: Path) -> rsa.RSAPrivateKey:
    """Creates the key once; of processes starting together, the one that creates the file wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_private_key(path)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def _private_key(config: dict[str, Any]) -> rsa.RSAPrivateKey:
    if config.get("PRIVATE_KEY_FILE"):
        return _load_private_key(Path(config["PRIVATE_KEY_FILE"]))
    generated = config.get("GENERATED_PRIVATE_KEY_FILE")
    if generated:
        path = Path(generated)
        return _load_private_key(path) if path.exists() else _generate_into(path)
    if config.get("GENERATE_IN_MEMORY"):
        return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    raise ImproperlyConfigured("JWT_PRIVATE_KEY_FILE is not set: auth-service has no key to sign tokens with")


def _public_key(path: Path) -> rsa.RSAPublicKey:
    data = path.read_bytes()
    key: Any = (
        serialization.load_pem_private_key(data, password=None).public_key()
        if b"PRIVATE KEY" in data
        else serialization.load_pem_public_key(data)
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise ImproperlyConfigured(f"{path} is not an RSA key")
    return key


def _load(config: dict[str, Any]) -> SigningKeys:
    private_key = _private_key(config)
    kid = jwk_thumbprint(private_key.public_key())
    published = {kid: private_key.public_key()}
    for path in config.get("EXTRA_PUBLIC_KEY_FILES", []):
        extra = _public_key(Path(path))
        published.setdefault(jwk_thumbprint(extra), extra)
    return SigningKeys(private_key=private_key, kid=kid, published=published)


_cached: SigningKeys | None = None


def signing_keys() -> SigningKeys:
    """Loaded on first use, so processes that sign nothing (relay) need no key."""
    global _cached
    if _cached is None:
        _cached = _load(settings.JWT_SIGNING)
    return _cached


def _forget(*, setting: str, **kwargs: Any) -> None:
    global _cached
    if setting == "JWT_SIGNING":
        _cached = None


setting_changed.connect(_forget)
