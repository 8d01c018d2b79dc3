"""Counters: entries into each status per hour and orders in each status now.

One Query per status and counter shard plus one per gauge shard (28 with 4 shards). A range's
result is cached; the cache is dropped whenever this process projects an event, and a result
read while an event was being projected is not kept. `cost` tells the API what a range would
cost now, which it charges to the caller's rate limit before reading.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.keys import counter_key, gauge_key, hour_bucket
from orderline.domain.order import Document
from orderline.domain.status import OrderStatus

from . import documents as docs
from .cache import MISSING, ReadCache
from .tiers import ReadModelUnavailable, Tiers

Cell = list[Any]  # [count, total value]


class StatusCounts:
    def __init__(self, tiers: Tiers, cache: ReadCache[Document], shards: int) -> None:
        self._tiers = tiers
        self._cache = cache
        self._shards = shards
        self._generation = 0  # bumped whenever this process projects counter changes

    async def read(self, start: datetime, end: datetime, restaurant: str | None = None) -> Document:
        """Counts over [start, end), whole hours (the API rounds them), of every restaurant or
        of one."""
        self._tiers.read_model()
        first, last = hour_bucket(start), hour_bucket(end - timedelta(hours=1))
        key = ("counts", first, last, restaurant or "")
        cached = self._cache.get(key)
        if cached is not MISSING and cached is not None:
            return cached
        counts, _ = await self._cache.single_flight(key, lambda: self._counted(key))
        assert counts is not None
        return counts

    def cost(self, start: datetime, end: datetime, restaurant: str | None = None) -> int:
        """The DynamoDB queries `read` would make now: none for a cached range."""
        first, last = hour_bucket(start), hour_bucket(end - timedelta(hours=1))
        cached = self._cache.get(("counts", first, last, restaurant or ""))
        return 0 if cached is not MISSING and cached is not None else self.queries

    @property
    def queries(self) -> int:
        """Queries per uncached range: one per status and counter shard, one per gauge shard."""
        return (len(OrderStatus) + 1) * self._shards

    def changed(self) -> None:
        """This process projected events: cached counts are out of date."""
        self._generation += 1
        self._cache.clear()

    async def _counted(self, key: tuple[str, str, str, str]) -> tuple[Document, None]:
        generation = self._generation
        counts = await self._count(key[1], key[2], key[3] or None)
        if generation == self._generation:  # nothing was projected while it was read
            self._cache.put(key, counts)
        return counts, None

    async def _count(self, first: str, last: str, restaurant: str | None) -> Document:
        statuses = [status.value for status in OrderStatus]
        shards = range(self._shards)
        try:
            counter_items, gauge_items = await asyncio.gather(
                asyncio.gather(
                    *(
                        self._query(counter_key(status, shard, restaurant), (first, last))
                        for status in statuses
                        for shard in shards
                    )
                ),
                asyncio.gather(*(self._query(gauge_key(shard, restaurant)) for shard in shards)),
            )
        except Exception as exc:
            if is_transient(exc):
                raise ReadModelUnavailable(str(exc)) from exc
            raise
        return _summary(statuses, first, last, counter_items, gauge_items)

    async def _query(self, pk: str, hours: tuple[str, str] | None = None) -> list[Document]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if hours is not None:
            condition += " AND sk BETWEEN :first AND :last"
            values.update({":first": {"S": hours[0]}, ":last": {"S": hours[1]}})
        return await read_side_calls.query_all(
            self._tiers.read_model(),
            {
                "TableName": self._tiers.tables.metrics,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
            },
        )


def _summary(
    statuses: list[str],
    first: str,
    last: str,
    counter_items: list[list[Document]],
    gauge_items: list[list[Document]],
) -> Document:
    buckets: dict[str, dict[str, Cell]] = {}
    totals: dict[str, Cell] = {status: [0, Decimal(0)] for status in statuses}
    for items in counter_items:
        for item in items:
            status = item["pk"].split("#", 1)[0]
            cell = buckets.setdefault(item["sk"], {}).setdefault(status, [0, Decimal(0)])
            for target in (cell, totals[status]):
                target[0] += int(item.get("count", 0))
                target[1] += Decimal(item.get("totalValue", 0))
    current = dict.fromkeys(statuses, 0)
    for items in gauge_items:
        for item in items:
            current[item["sk"]] += int(item.get("count", 0))
    return {
        "from": _hour_iso(first),
        "to": _hour_iso(last, plus_hours=1),
        "buckets": [
            {"hour": _hour_iso(hour), "statuses": {s: _cell(c) for s, c in sorted(cells.items())}}
            for hour, cells in sorted(buckets.items())
        ],
        "totals": {status: _cell(cell) for status, cell in totals.items()},
        "current": current,
    }


def _cell(cell: Cell) -> dict[str, Any]:
    return {"count": cell[0], "totalValue": docs.amount_text(cell[1])}


def _hour_iso(bucket: str, plus_hours: int = 0) -> str:
    moment = datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return (moment + timedelta(hours=plus_hours)).strftime("%Y-%m-%dT%H:00:00Z")
