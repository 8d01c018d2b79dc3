"""The embedded deployment's signing key (Ed25519, in the data dir) and the token issuer."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orderline.domain.access import Role
from orderline.secrets_store import local_secret

KEY_FILE = "jwt-signing-key.pem"


def _new_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class DevSigner:
    """Signs tokens with the data dir's key, generated on first use (file mode 0600)."""

    def __init__(self, data_dir: Path, *, issuer: str, audience: str) -> None:
        pem = local_secret(data_dir / KEY_FILE, _new_key)
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, Ed25519PrivateKey)
        self._private = private
        self.public_key = private.public_key()
        self._issuer = issuer
        self._audience = audience

    def issue(
        self,
        subject: str,
        role: Role,
        *,
        restaurant_id: str | None = None,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int = 3600,
        now: float | None = None,
        email: str | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "role": str(role),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if restaurant_id is not None:
            claims["restaurantId"] = restaurant_id
        if scopes:
            claims["scope"] = " ".join(scopes)
        if email is not None:  # as an identity provider sends a checked address
            claims["email"] = email
            claims["email_verified"] = True
        return jwt.encode(claims, self._private, algorithm="EdDSA")
