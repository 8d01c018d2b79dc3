"""Key shapes of the read-model tables, beside their specs (`tables.py`): one definition for
the projector that writes them and the queries that read them."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime


def counter_key(status: str, shard: int, restaurant: str | None = None) -> str:
    """`order-status-metrics` partition of the hourly entries into a status (one shard), of
    every restaurant or of one (ids never contain `#`)."""
    return f"{status}#{shard}" if restaurant is None else f"{status}#{shard}#{restaurant}"


def counter_shard(order_id: str, shards: int) -> int:
    """Which shard of the counter and gauge items an order's entries are counted in."""
    return zlib.crc32(order_id.encode()) % shards


def gauge_key(shard: int, restaurant: str | None = None) -> str:
    """`order-status-metrics` partition of the orders now in each status (one shard)."""
    return f"current#{shard}" if restaurant is None else f"current#{shard}#{restaurant}"


def hour_bucket(moment: datetime) -> str:
    """`order-status-metrics` sort key of an hourly counter: `YYYY-MM-DDTHH` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def history_key(version: int) -> str:
    """`order-status-log` sort key: zero-padded so that it orders as the version does."""
    return f"{version:010d}"
