"""Opaque, signed pagination cursors: a client can hand one back, not forge or edit one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

SIGNATURE_BYTES = 12


class InvalidCursor(ValueError):
    pass


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, query: str, position: dict[str, Any]) -> str:
        """Sign the position together with the query it belongs to."""
        body = json.dumps({"q": query, "p": position}, separators=(",", ":")).encode()
        token = _b64(body) + "." + _b64(self._sign(body))
        return token

    def decode(self, query: str, token: str) -> dict[str, Any]:
        try:
            body_text, signature_text = token.split(".", 1)
            body, signature = _unb64(body_text), _unb64(signature_text)
        except ValueError as exc:
            raise InvalidCursor("cursor is malformed") from exc
        if not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidCursor("cursor was altered or comes from another server")
        content = json.loads(body)
        if content.get("q") != query:
            raise InvalidCursor("cursor belongs to a different query; start again without it")
        position: dict[str, Any] = content["p"]
        return position

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
