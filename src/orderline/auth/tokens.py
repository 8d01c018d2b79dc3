"""Bearer JWTs verified with PyJWT into the domain's Actor, each token verified once.

Keys come from a JWKS URL (cached; an unknown `kid` refreshes the set, so a rotated key is
picked up without a restart) or from the dev signing key. Algorithms are pinned to the key's
type: `none` and HS* (a public key used as an HMAC secret) are never accepted.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from orderline.domain.access import Actor, Role

# The algorithms each key type may sign with; nothing else is ever accepted.
ALGORITHMS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]


class InvalidToken(Exception):
    """The token cannot be trusted; the message is safe to show the client."""


class KeySource(Protocol):
    def key_for(self, token: str) -> tuple[Any, list[str]]:
        """The key that must have signed `token`, and the algorithms allowed with it."""
        ...


@dataclass(frozen=True)
class StaticKey:
    """One public key (the dev signing key); `algorithm` is pinned."""

    key: Any
    algorithm: str = "EdDSA"

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        return self.key, [self.algorithm]


class JwksKeys:
    """Keys from a JWKS URL, cached for `lifespan` seconds; an unknown kid refreshes them, at
    most once per `cooldown` seconds (so random kids cannot make us hammer the provider)."""

    def __init__(
        self, url: str, *, lifespan: float = 300, timeout: float = 5, cooldown: float = 10
    ) -> None:
        self._client = jwt.PyJWKClient(
            url, lifespan=lifespan, timeout=timeout, cooldown_duration=cooldown
        )

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        try:
            jwk = self._client.get_signing_key(kid)
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"unknown signing key {kid!r}") from exc
        allowed = ALGORITHMS.get(str(jwk.key_type), ())
        algorithm = header.get("alg")
        if algorithm not in allowed:
            raise InvalidToken(f"algorithm {algorithm!r} is not allowed for this key")
        return jwk.key, [str(algorithm)]


class TokenVerifier:
    """Verifies tokens and remembers each verified one (by its whole text, signature included)
    until it expires, but at most `remember_seconds` (so a key removed from the JWKS stops
    working within that time), so a client's repeated requests cost a dictionary lookup."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
        remember_seconds: float = 300,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self._cache: OrderedDict[str, tuple[Actor, float]] = OrderedDict()
        self._cache_size = cache_size
        self._remember = remember_seconds
        self._lock = threading.Lock()

    def cached(self, token: str) -> Actor | None:
        """The actor of a token verified before and not yet expired."""
        found = self._cache.get(token)
        if found is None or found[1] < self._clock():
            return None
        return found[0]

    def verify(self, token: str) -> Actor:
        """The token's actor; InvalidToken for anything untrustworthy. May fetch JWKS (block)."""
        actor = self.cached(token)
        if actor is not None:
            return actor
        claims = self._decode(token)
        actor = actor_of(claims)
        with self._lock:
            until = min(float(claims["exp"]), self._clock() + self._remember)
            self._cache[token] = (actor, until)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return actor

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            key, algorithms = self._keys.key_for(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token is invalid: {exc}") from exc
        return claims


def actor_of(claims: dict[str, Any]) -> Actor:
    """The principal a token's claims describe: `sub`, `role`, `restaurantId`, `scope`."""
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise InvalidToken(
            "the token's role must be customer, restaurant, staff or service"
        ) from None
    restaurant = claims.get("restaurantId")
    if role is Role.RESTAURANT and not isinstance(restaurant, str):
        raise InvalidToken("a restaurant token needs the claim restaurantId")
    scope = claims.get("scope", "")
    scopes = scope.split() if isinstance(scope, str) else []
    return Actor(
        subject=str(claims["sub"]),
        role=role,
        restaurant_id=restaurant if isinstance(restaurant, str) else None,
        scopes=frozenset(scopes),
        expires_at=float(claims["exp"]),
    )
