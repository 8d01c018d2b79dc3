"""Bearer JWTs verified with PyJWT into the domain's Actor, each token verified once.

Keys come from a JWKS URL (jwks.py: cached; an unknown `kid` refreshes the set, so a rotated key
is picked up without a restart) or from the dev signing key. Algorithms are pinned to the key's
type (and to a JWK's own `alg`): `none` and HS* (a public key used as an HMAC secret) are never
accepted. A `typ` header, where present, must say an access token (RFC 8725 3.11). Refusals
are fixed sentences: nothing of the token is ever repeated to the client.
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


# `typ` values of a token meant for us (RFC 8725 3.11, RFC 9068), compared case-insensitively
# and with or without the `application/` prefix.
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt"})


class InvalidToken(Exception):
    """The token cannot be trusted; the message is a fixed sentence, safe to show the client."""


def checked_header(token: str) -> dict[str, Any]:
    """The token's (unverified) header, refused when its `typ` names another kind of token."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is malformed") from None
    typ = header.get("typ")
    if typ is not None:
        kind = str(typ).lower().removeprefix("application/")
        if kind not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("the token's type (typ) is not an access token")
    return header


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
        checked_header(token)
        return self.key, [self.algorithm]


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
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_refusal(exc)) from None
        return claims


# PyJWT's messages may quote the token (a `crit` entry, a claim): each kind gets a fixed sentence
_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not accepted"),
    (jwt.InvalidAudienceError, "the token's audience (aud) is not accepted"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not allowed for its key"),
    (jwt.InvalidIssuedAtError, "the token's issue time (iat) is invalid"),
    (jwt.DecodeError, "the token is malformed"),
)


def _refusal(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim in REQUIRED_CLAIMS:
        return f"the token lacks the claim {exc.claim}"
    for kind, sentence in _REFUSALS:
        if isinstance(exc, kind):
            return sentence
    return "the token is invalid"


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
        email=verified_email(claims),
        expires_at=float(claims["exp"]) if "exp" in claims else None,
    )


def verified_email(claims: dict[str, Any]) -> str | None:
    """The `email` claim, unless `email_verified` says it is not verified (OIDC sends a
    boolean; some providers the string "false"). A provider that omits `email_verified` is
    trusted to send checked addresses only."""
    email = claims.get("email")
    verified = claims.get("email_verified", True)
    if not isinstance(email, str) or verified is False or verified == "false":
        return None
    return email
