"""What the Kafka pipeline tests check: the outbox backlog, convergence, the read model against
PostgreSQL (lost, doubled, stale, counters), and reads sampled while the load runs."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from orderline.bootstrap import Container

from .counting import counted
from .dynamodb import counter_scope, scan

pytestmark = pytest.mark.slow


class Sampler:
    """Reads status items while the load runs; records any version that went backwards."""

    def __init__(self, container: Container, ids: list[UUID], rng: random.Random) -> None:
        self.container = container
        self.ids = ids
        self.rng = rng
        self.highest: dict[str, int] = {}
        self.backwards: list[tuple[str, int, int]] = []
        self.reads = 0

    async def run(self, stop: asyncio.Event) -> None:
        table = f"{self.container.settings.table_prefix}order-status"
        while not stop.is_set():
            if self.ids:
                keys = [
                    {"orderId": {"S": str(i)}}
                    for i in self.rng.sample(self.ids, min(50, len(self.ids)))
                ]
                try:
                    response = await self.container.dynamodb.batch_get_item(
                        RequestItems={table: {"Keys": keys}}
                    )
                except Exception:
                    await asyncio.sleep(0.2)
                    continue
                for item in response.get("Responses", {}).get(table, []):
                    order_id, version = item["orderId"]["S"], int(item["version"]["N"])
                    self.reads += 1
                    if version < self.highest.get(order_id, 0):
                        self.backwards.append((order_id, self.highest[order_id], version))
                    self.highest[order_id] = max(version, self.highest.get(order_id, 0))
            await asyncio.sleep(0.1)


async def outbox_backlog(container: Container) -> int:
    async with container.engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        return int(result.scalar_one())


async def check_read_model(container: Container) -> dict[str, Any]:
    """Compare DynamoDB with the outbox and the orders; return the figures."""
    prefix = container.settings.table_prefix
    await counted(container, seconds=120)  # the counters follow the history table's stream
    async with container.engine.connect() as conn:
        events = (
            await conn.execute(text("SELECT order_id, order_version, payload FROM outbox"))
        ).all()
        versions = dict((await conn.execute(text("SELECT id, version FROM orders"))).all())
        truth = dict(
            ((status, hour), (count, total))
            for status, hour, count, total in await conn.execute(
                text(
                    "SELECT payload->'payload'->'order'->>'status', "
                    "to_char((payload->>'occurredAt')::timestamptz AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24'), count(*), "
                    "sum((payload->'payload'->'order'->>'totalAmount')::numeric) FROM outbox "
                    "WHERE event_type IN ('OrderPlaced', 'OrderStatusChanged') GROUP BY 1, 2"
                )
            )
        )
    log = await scan(container.dynamodb, f"{prefix}order-status-log")
    logged = Counter((entry["orderId"], int(entry["version"])) for entry in log)
    expected = {(str(order_id), version) for order_id, version, _ in events}
    counters: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for item in await scan(container.dynamodb, f"{prefix}order-status-metrics"):
        status, restaurant = counter_scope(item["pk"])
        if status != "current" and restaurant is None and item["count"]:
            counters[(status, item["sk"])][0] += item["count"]
            counters[(status, item["sk"])][1] += Decimal(item.get("totalValue", 0))
    statuses = {
        item["orderId"]: int(item["version"])
        for item in await scan(container.dynamodb, f"{prefix}order-status")
    }
    return {
        "events": len(expected),
        "lost": len(expected - set(logged)),
        "duplicates": sum(n - 1 for n in logged.values() if n > 1),
        "counters_match": {k: (v[0], v[1]) for k, v in counters.items()} == truth,
        "stale_status_items": sum(1 for oid, v in versions.items() if statuses.get(str(oid)) != v),
    }


async def converge(container: Container, expected_events: int, deadline: float) -> float:
    """Wait until the outbox is drained and every event is logged; return when that happened.

    Counted with `Select=COUNT` every 2 s: moto answers one request at a time, and serialising
    a whole-table scan of thousands of entries each second kept the projectors' own requests
    waiting past their read timeout (seen with py-spy), so the check itself stalled the drain.
    """
    prefix = container.settings.table_prefix
    backlog = logged = -1
    while time.monotonic() < deadline:
        backlog = await outbox_backlog(container)
        if backlog == 0:
            logged = await count_items(container, f"{prefix}order-status-log")
            if logged >= expected_events:
                return time.monotonic()
        await asyncio.sleep(2)
    raise AssertionError(
        f"the read model did not converge in time: {backlog} rows unpublished, "
        f"{logged} of {expected_events} events in the history table"
    )


async def count_items(container: Container, table: str) -> int:
    total, start = 0, None
    while True:
        page = await container.dynamodb.scan(
            TableName=table, Select="COUNT", **({"ExclusiveStartKey": start} if start else {})
        )
        total += int(page["Count"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


async def count_events(container: Container) -> int:
    async with container.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one())
