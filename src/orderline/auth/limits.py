"""Request rate limits (OWASP API4): a token bucket per key, the principal's subject for
requests, the client's address for failed authentications."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`, per key."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, key: str, cost: float = 1.0) -> float | None:
        """None when the request may go ahead (its `cost` in tokens taken); else the seconds
        until it could. A cost above the burst is asked as the whole burst."""
        cost = min(cost, self._burst)
        now = self._clock()
        tokens = self._refilled(key, now)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            self._evict()
            return None
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def charge(self, key: str, cost: float) -> None:
        """Take `cost` more tokens for work already done: the bucket may go into debt (down to
        minus the burst), which the principal's next requests wait off."""
        now = self._clock()
        self._buckets[key] = (max(-self._burst, self._refilled(key, now) - cost), now)
        self._evict()

    def _refilled(self, key: str, now: float) -> float:
        tokens, then = self._buckets.pop(key, (self._burst, now))
        return min(self._burst, tokens + (now - then) * self.rate)

    def blocked(self, key: str) -> float | None:
        """Like `take`, without spending: None when one more would be allowed now."""
        now = self._clock()
        tokens, then = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self.rate)
        return None if tokens >= 1 else (1 - tokens) / self.rate

    def _evict(self) -> None:
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def address_key(host: str) -> str:
    """The limit key of a client address: an IPv6 client by its /64 (one host usually holds a
    whole /64), an IPv4 client by its address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
