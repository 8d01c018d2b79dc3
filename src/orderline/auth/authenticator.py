"""What the API needs to authenticate a request: the verifier and the rate limiters."""

from __future__ import annotations

from dataclasses import dataclass

from .limits import RateLimiter
from .tokens import TokenVerifier


@dataclass(frozen=True)
class Authenticator:
    """`verifier` None: authentication is off (every request acts as an anonymous admin).
    `limiter` counts each principal's requests, `failures` each client address's failed
    authentications (None: no limit)."""

    verifier: TokenVerifier | None
    limiter: RateLimiter | None = None
    failures: RateLimiter | None = None

    @property
    def enabled(self) -> bool:
        return self.verifier is not None
