"""Keys from the identity provider's JWKS URL: cached, fetched by one caller at a time, and a
failed fetch remembered for a while, so that while the provider is down tokens fail at once
(503) instead of queueing one by one on the fetch timeout."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from .tokens import ALGORITHMS, InvalidToken, checked_header

log = logging.getLogger(__name__)


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be fetched now: the token can be neither trusted nor
    refused; retry after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__("the identity provider cannot be reached")
        self.retry_after_seconds = retry_after_seconds


class InsecureJwksUrl(ValueError):
    """A JWKS URL whose keys could be replaced on the way (not https, not loopback)."""


def check_jwks_url(url: str) -> None:
    """https, or http to a loopback address (a provider on this machine); else InsecureJwksUrl."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return
    raise InsecureJwksUrl(
        f"ORDERLINE_JWT_JWKS_URL must be an https URL (http only to a loopback address); "
        f"got {url!r}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _KeySet:
    """One fetched JWKS: each kid's key and the `alg` the JWK itself declares (if any)."""

    keys: dict[str, tuple[jwt.PyJWK, str | None]]
    fetched_at: float


class JwksKeys:
    """Keys from a JWKS URL, cached for `lifespan` seconds; an unknown kid refreshes them, at
    most once per `cooldown` seconds (so random kids cannot make us hammer the provider). One
    fetch at a time: callers that waited for it use its result; a failed fetch is remembered for
    `failure_seconds`, during which every token needing a fetch gets KeysUnavailable at once."""

    def __init__(
        self,
        url: str,
        *,
        lifespan: float = 300,
        timeout: float = 5,
        cooldown: float = 10,
        failure_seconds: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_jwks_url(url)
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._lifespan = lifespan
        self._cooldown = cooldown
        self._failure_seconds = failure_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._set: _KeySet | None = None
        self._down_until = -math.inf

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        header = checked_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        jwk, declared = self._lookup(kid)
        algorithm = header.get("alg")
        allowed = ALGORITHMS.get(str(jwk.key_type), ())
        if algorithm not in allowed or (declared is not None and algorithm != declared):
            raise InvalidToken("the token's algorithm is not allowed for its key")
        return jwk.key, [str(algorithm)]

    def _lookup(self, kid: str) -> tuple[jwt.PyJWK, str | None]:
        seen = self._set
        if seen is not None and self._fresh(seen) and kid in seen.keys:
            return seen.keys[kid]
        with self._lock:  # one fetch at a time; who waited sees what it brought
            current = self._set
            if current is not seen and current is not None and kid in current.keys:
                return current.keys[kid]
            if current is None or not self._fresh(current) or self._may_refresh(current):
                current = self._fetch()
        if kid not in current.keys:
            raise InvalidToken("the token names an unknown signing key (kid)")
        return current.keys[kid]

    def _fresh(self, keys: _KeySet) -> bool:
        return self._clock() - keys.fetched_at < self._lifespan

    def _may_refresh(self, keys: _KeySet) -> bool:
        """An unknown kid may refresh a fresh set once the cooldown since its fetch is over."""
        return self._clock() - keys.fetched_at >= self._cooldown

    def _fetch(self) -> _KeySet:
        now = self._clock()
        if now < self._down_until:
            raise KeysUnavailable(self._down_until - now)
        try:
            document = self._client.fetch_data()
            keys = _parse(document)
        except (jwt.PyJWKClientError, ValueError) as exc:  # unreachable, or not a JWKS
            self._down_until = self._clock() + self._failure_seconds
            log.warning(
                "fetching the JWKS failed (%s); retrying in %gs", exc, self._failure_seconds
            )
            raise KeysUnavailable(self._failure_seconds) from exc
        self._set = _KeySet(keys, self._clock())
        return self._set


def _parse(document: dict[str, Any]) -> dict[str, tuple[jwt.PyJWK, str | None]]:
    """Each signing key of a JWKS document by kid (keys it cannot use are skipped)."""
    keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}
    for entry in document.get("keys") or []:
        if not isinstance(entry, dict) or entry.get("use") not in ("sig", None):
            continue
        kid = entry.get("kid")
        declared = entry.get("alg")
        try:
            jwk = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWTError:
            continue
        if isinstance(kid, str):
            keys[kid] = (jwk, declared if isinstance(declared, str) else None)
    return keys
