"""The benchmarks' data: orders seeded straight into PostgreSQL, the read model filled as the
projector would, and the status changes and request lists the scenarios send."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.config import Settings

from . import loadgen
from .loadgen import get, post
from .services import HOST, Server, emulator, log
from .wrk import Request

LIFECYCLE = ("CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED")


async def seed(url: str, count: int, prefix: str) -> list[str]:
    """`count` PENDING orders straight into PostgreSQL (the read model fills itself on reads)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            INSERT INTO orders (id, customer_id, restaurant_id, channel_id, status, currency,
                total_amount, street, city, postal_code, latitude, longitude, tracking_code,
                created_at, updated_at, version)
            SELECT gen_random_uuid(), $1 || (i % 1000), 'r-' || (i % 50), 'web', 'PENDING', 'USD',
                31.98, '1 Main St', 'New York', '10001', 40.7, -74.0, 'TRK-' || i, now(), now(), 1
            FROM generate_series(1, $2) AS i
            RETURNING id
            """,
            prefix,
            count,
        )
        ids = [str(row["id"]) for row in rows]
        await conn.execute(
            """
            INSERT INTO order_items (order_id, position, item_id, name, quantity, unit_price,
                total_price)
            SELECT id, 0, 'pizza', 'Pizza', 2, 15.99, 31.98 FROM orders WHERE customer_id LIKE $1
            """,
            prefix + "%",
        )
        return ids
    finally:
        await conn.close()


async def fill_read_model(url: str, endpoint: str, prefix: str, ids: list[str]) -> None:
    """Write every order's status and details items, as the projector would (BatchWriteItem)."""
    from orderline.adapters.dynamodb.codec import to_item
    from orderline.adapters.postgres.engine import build_engine
    from orderline.adapters.postgres.queries import PostgresOrderQueries
    from orderline.readmodel import documents as docs

    engine = build_engine(url, pool_size=2)
    queries = PostgresOrderQueries(engine)
    ttl = docs.Expiry().status_ttl(datetime.now(UTC))
    async with dynamodb_client(Settings(dynamodb_endpoint=endpoint)) as client:
        for start in range(0, len(ids), 100):
            chunk = [uuid.UUID(order_id) for order_id in ids[start : start + 100]]
            documents = await queries.get_many(chunk)
            items = [(f"{prefix}order-status", docs.status_item(d, ttl)) for d in documents] + [
                (f"{prefix}order-details", docs.details_item(d, ttl)) for d in documents
            ]
            for first in range(0, len(items), 25):
                request: dict[str, Any] = {}
                for table, item in items[first : first + 25]:
                    request.setdefault(table, []).append({"PutRequest": {"Item": to_item(item)}})
                while request:
                    response = await client.batch_write_item(RequestItems=request)
                    request = response.get("UnprocessedItems") or {}
    await engine.dispose()


def status_reads(ids: list[str]) -> list[Request]:
    return [("GET", f"/api/orders/{order_id}/status", b"") for order_id in ids]


def cycling(
    requests: list[Request], headers: dict[str, str] | None = None
) -> loadgen.RequestFactory:
    """The generator's view of a request list: request `n` is item `n` modulo its length."""
    encoded = [
        post(path, HOST, body) if method == "POST" else get(path, HOST, headers)
        for method, path, body in requests
    ]
    return lambda n: encoded[n % len(encoded)]


def shuffled(ids: list[str], seed: int) -> list[str]:
    copy = list(ids)
    random.Random(seed).shuffle(copy)
    return copy


def lifecycle_changes(ids: list[str]) -> list[bytes]:
    """Status changes that are all allowed: every order one step, then the next step, ..."""
    return [
        post(
            f"/api/orders/{order_id}/status",
            HOST,
            json.dumps({"status": status}).encode(),
        )
        for status in LIFECYCLE
        for order_id in ids
    ]


def zipf_sequence(count: int, population: int, s: float, rng: random.Random) -> list[int]:
    weights = list(itertools.accumulate(1 / (k**s) for k in range(1, population + 1)))
    top = weights[-1]
    return [bisect.bisect_left(weights, rng.random() * top) for _ in range(count)]


async def seed_after_migrations(env: dict[str, str], url: str, prefix: str) -> list[str]:
    with emulator() as endpoint, Server(env | {"ORDERLINE_DYNAMODB_ENDPOINT": endpoint}):
        pass  # migrations
    ids = await seed(url, 10_000, "c-")
    log("seeded 10,000 orders")
    return ids


class Writes:
    """Allowed status changes, handed out once each across every scenario and emulator."""

    def __init__(self, changes: list[bytes]) -> None:
        self.changes = changes
        self.next = 0

    def take(self) -> loadgen.RequestFactory:
        """A request factory starting at the next unused change; `used` moves the mark on."""
        start = self.next
        return lambda n: self.changes[(start + n) % len(self.changes)]

    def used(self, count: int) -> None:
        self.next += count


def batches_of_ten(order: list[str]) -> list[Request]:
    return [
        ("GET", "/api/orders/status?ids=" + ",".join(order[i : i + 10]), b"")
        for i in range(0, len(order), 10)
    ]
