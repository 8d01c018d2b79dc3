"""What the scenarios are read against: the server's histograms, and the same work done bare (raw
asyncpg with the repository's own SQL, raw GetItem, a closed loop of requests)."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.postgres.repository import LOCK_ORDER, UPDATE_AND_APPEND
from orderline.config import Settings

from . import loadgen
from .data import LIFECYCLE
from .loadgen import Result
from .services import HOST


async def closed_loop_once(port: int, requests: list[bytes], connections: int = 16) -> Result:
    """Send each request once, `connections` at a time."""
    queue = iter(requests)
    result = Result()

    async def worker() -> None:
        connection = loadgen._Connection(HOST, port)
        try:
            for request in queue:
                started = time.perf_counter()
                status = await connection.request(request)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return result


def histogram_percentiles(
    samples: dict[str, float], name: str, within: float = 0.1
) -> dict[str, float]:
    """p50/p95/p99 of a Prometheus histogram, interpolated within the bucket that holds each (as
    PromQL's histogram_quantile does), and the share of samples at or under `within` seconds
    (exact when `within` is a bucket bound)."""
    buckets = sorted(
        (float(m.group(1)), value)
        for key, value in samples.items()
        if (m := re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', key)) and m.group(1) != "+Inf"
    )
    total = samples.get(f"{name}_count", 0)
    found: dict[str, float] = {"count": total}
    for p in (50, 95, 99):
        target, lower, below = total * p / 100, 0.0, 0.0
        found[f"p{p}_ms"] = math.inf
        for bound, count in buckets:
            if count >= target and count > below:
                found[f"p{p}_ms"] = round(
                    (lower + (bound - lower) * (target - below) / (count - below)) * 1000, 1
                )
                break
            lower, below = bound, count
    inside = dict(buckets).get(within, 0)
    found["share_within"] = round(inside / total, 4) if total else math.nan
    found["within_ms"] = within * 1000
    return found


def delta(after: dict[str, float], before: dict[str, float], pattern: str) -> float:
    return sum(v - before.get(k, 0) for k, v in after.items() if re.fullmatch(pattern, k))


def raw_statement(statement: Any) -> tuple[str, Callable[[dict[str, Any]], list[Any]]]:
    """One of the repository's statements as asyncpg receives it: its SQL text, and a function
    that puts named values in its positional order (with the constants SQLAlchemy bound)."""
    compiled = statement.compile(dialect=asyncpg_dialect())
    names, constants = list(compiled.positiontup or []), compiled.params
    return str(compiled), lambda values: [values.get(n, constants.get(n)) for n in names]


async def raw_asyncpg_rate(url: str, ids: list[str], seconds: float, connections: int) -> float:
    """The statements a status change sends, from a bare asyncpg loop: the write-path ceiling.

    The same SQL text (compiled from the repository's statements) in the same transaction shape:
    BEGIN, lock the order with its items, update it and append the outbox row with its NOTIFY
    (one statement), COMMIT. No HTTP, validation, domain model, SQLAlchemy, relay or projection.
    """
    lock, lock_args = raw_statement(LOCK_ORDER)
    change_sql, change_args = raw_statement(UPDATE_AND_APPEND)
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    # the raw loop checks no transitions, so it may cycle through the same orders
    steps = itertools.cycle([(order_id, status) for status in LIFECYCLE for order_id in ids])
    done = 0
    deadline = time.perf_counter() + seconds

    async def change(conn: asyncpg.Connection, order_id: uuid.UUID, status: str) -> None:
        async with conn.transaction():
            row = dict(await conn.fetchrow(lock, *lock_args({"order_id": order_id})))
            values = row | {
                "status": status,
                "version": row["version"] + 1,
                "updated_at": datetime.now(UTC),
                "order_id": order_id,
                "loaded_version": row["version"],
            }
            event = values | {
                "event_id": uuid.uuid4(),
                "order_id": order_id,
                "order_version": row["version"] + 1,
                "event_type": "OrderStatusChanged",
                "payload": "{}",
                "hold": timedelta(0),
                "attempts": 0,
                "channel": "bench_raw",
            }
            await conn.fetchrow(change_sql, *change_args(event))

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                order_id, status = next(steps)
                await change(conn, uuid.UUID(order_id), status)
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    await pool.close()
    return done / (time.perf_counter() - started)


async def raw_get_item(endpoint: str, prefix: str, order_id: str, count: int) -> dict[str, float]:
    settings = Settings(dynamodb_endpoint=endpoint)
    async with dynamodb_client(settings) as client:
        key = {"orderId": {"S": order_id}}
        table = f"{prefix}order-status"
        await client.get_item(TableName=table, Key=key)
        latencies = []
        cpu = time.process_time()
        for _ in range(count):
            started = time.perf_counter()
            await client.get_item(TableName=table, Key=key)
            latencies.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
    result = Result(latencies=latencies, duration=sum(latencies))
    return result.summary() | {"client_cpu_ms_per_call": round(cpu / count * 1000, 3)}
