"""A capacity-unit rate limit shared by concurrent scans or writers (ReturnConsumedCapacity)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class CapacityLimiter:
    """At most `units_per_second` consumed on average; `None` means unlimited.

    Callers `await wait()` before a request and `spend(units)` after it with what DynamoDB said
    it consumed; a request that overspends makes the next ones wait until the debt is paid.
    """

    def __init__(self, units_per_second: float | None) -> None:
        self._rate = units_per_second
        self._debt = 0.0
        self._at = time.monotonic()
        self._lock = asyncio.Lock()
        self.spent = 0.0

    @property
    def enabled(self) -> bool:
        return self._rate is not None

    async def wait(self) -> None:
        if self._rate is None:
            return
        async with self._lock:
            self._repay()
            if self._debt > 0:
                await asyncio.sleep(self._debt / self._rate)
                self._repay()

    def spend(self, units: float) -> None:
        self.spent += units
        if self._rate is None:
            return
        self._repay()
        self._debt += units

    def _repay(self) -> None:
        assert self._rate is not None
        now = time.monotonic()
        # one second of burst at most: an idle limiter does not bank unlimited credit
        self._debt = max(-self._rate, self._debt - (now - self._at) * self._rate)
        self._at = now


def consumed_units(response: dict[str, Any]) -> float:
    """Capacity units a response reports (a dict for Scan, a list for BatchWriteItem)."""
    consumed = response.get("ConsumedCapacity")
    if consumed is None:
        return 0.0
    if isinstance(consumed, list):
        return float(sum(entry.get("CapacityUnits", 0.0) for entry in consumed))
    return float(consumed.get("CapacityUnits", 0.0))
