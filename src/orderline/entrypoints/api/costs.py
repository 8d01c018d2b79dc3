"""Cost-weighted rate limits (OWASP API4): a request takes one token of its principal's bucket
(`deps.current_actor`); a path that makes the service do much more takes what it costs.

The costs, as data: in requests' worth of tokens beyond the one every request takes.
- An uncached status-counts range: one DynamoDB Query per status and counter shard plus one per
  gauge shard (28 with 4 shards), charged before it is read, so a principal without the tokens
  gets 429 and the queries are not made. A cached range costs nothing more.
- A read whose `minVersion` is beyond the version the order has: a consistent DynamoDB read and
  a PostgreSQL query for a version nobody wrote (a client that read its own write never asks
  one). Known only once read, so charged after: the principal's next requests wait it off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orderline.auth.limits import RateLimiter, retry_after
from orderline.domain.access import Actor

from .deps import current_actor
from .errors import ApiError

MIN_VERSION_AHEAD_COST = 10


class RequestCost:
    """What a costly request charges to its principal's rate limit (nothing when the API runs
    without one)."""

    def __init__(self, limiter: RateLimiter | None, principal: str) -> None:
        self._limiter = limiter
        self._principal = principal

    def before(self, extra: float) -> None:
        """Take `extra` tokens now, or refuse the request (429) without doing its work."""
        if self._limiter is None or extra <= 0:
            return
        wait = self._limiter.take(self._principal, extra)
        if wait is not None:
            raise ApiError(
                429,
                "Too many requests",
                f"this request costs {extra + 1:g} requests' worth of the rate limit "
                f"({self._limiter.rate:g} per second); retry after {retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )

    def after(self, extra: float) -> None:
        """Charge `extra` tokens for work already done."""
        if self._limiter is not None and extra > 0:
            self._limiter.charge(self._principal, extra)

    def min_version_read(self, min_version: int | None, version: int) -> None:
        """A read asked for a version beyond the one the order has: charge what it cost."""
        if min_version is not None and min_version > version:
            self.after(MIN_VERSION_AHEAD_COST)


async def request_cost(
    request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> RequestCost:
    auth = request.app.state.container.auth
    return RequestCost(auth.limiter if auth.verifier is not None else None, actor.subject)


CostDep = Annotated[RequestCost, Depends(request_cost)]
