"""Parallel scans (Segment/TotalSegments) over the wire client, rate limited, and exact counts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .dynamodb_http import Wire
from .limiter import CapacityLimiter, consumed_units

# Items per Scan page at most. A page stays under 1 MB anyway; the limit bounds how many parsed
# items each concurrent segment holds at once (memory flat with 16+ segments in flight).
PAGE_ITEMS = 600
Page = Callable[[list[dict[str, Any]], dict[str, Any] | None], Awaitable[None]]


async def scan_segment(
    wire: Wire,
    table: str,
    segment: int,
    total: int,
    on_page: Page,
    *,
    limiter: CapacityLimiter | None = None,
    consistent: bool = True,
    start_key: dict[str, Any] | None = None,
) -> None:
    """Every item of one segment, page by page, to `on_page(items, last_evaluated_key)`."""
    request: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total,
        "ConsistentRead": consistent,
        "ReturnConsumedCapacity": "TOTAL",
        "Limit": PAGE_ITEMS,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    while True:
        if limiter is not None:
            await limiter.wait()
        response = await wire.call("Scan", request)
        if limiter is not None:
            limiter.spend(consumed_units(response))
        last = response.get("LastEvaluatedKey") or None
        await on_page(response.get("Items", []), last)
        if last is None:
            return
        request["ExclusiveStartKey"] = last


async def count_items(wire: Wire, table: str, segments: int = 8) -> int:
    """The exact item count: a paged, parallel `Scan Select=COUNT` (ItemCount is approximate)."""
    counts = await asyncio.gather(
        *(_count_segment(wire, table, segment, segments) for segment in range(segments))
    )
    return sum(counts)


async def _count_segment(wire: Wire, table: str, segment: int, total: int) -> int:
    request: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "Segment": segment,
        "TotalSegments": total,
        "ConsistentRead": True,
    }
    count = 0
    while True:
        response = await wire.call("Scan", request)
        count += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if not last:
            return count
        request["ExclusiveStartKey"] = last


async def is_empty(wire: Wire, table: str) -> bool:
    response = await wire.call("Scan", {"TableName": table, "Limit": 1, "Select": "COUNT"})
    while response.get("Count", 0) == 0 and response.get("LastEvaluatedKey"):
        start = response["LastEvaluatedKey"]
        response = await wire.call(
            "Scan", {"TableName": table, "Limit": 1, "Select": "COUNT", "ExclusiveStartKey": start}
        )
    return int(response.get("Count", 0)) == 0
