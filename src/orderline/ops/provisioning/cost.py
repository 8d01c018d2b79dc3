"""Monthly DynamoDB on-demand cost, from the items the projector and the aggregator really write.

A representative order is played through its lifecycle by the domain, each event projected by
the real `Projector` against a recording client, and each history entry it wrote counted by the
real `CounterAggregator` as a stream batch of its own (the most its counters can cost: batches
of several entries share counter items and the checkpoint); every item of every transaction is
sized by DynamoDB's rules. On-demand bills items, not calls: a transactional write costs 2
write request units per started KB of each item, a GSI copy 1 (2 when its sort key `updatedAt`
moves: a delete and a put), an eventually consistent read 0.5 per 4 KB. Batching the projector
(0.07 calls per event in the bench) saves client CPU and latency, not request units.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orderline.adapters.dynamodb.tables import ORDER_STATUS, TableSpec
from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.readmodel.documents import Expiry
from orderline.readmodel.projector import Projector
from orderline.streams.counters import CounterAggregator
from orderline.streams.leases import Checkpoint
from orderline.streams.reader import ShardBatch

ITEM_OVERHEAD = 100  # bytes DynamoDB adds to every stored item, base table or index
HOURS_PER_MONTH = 730
STATUSES = 6
GB = 1024**3
KEY_NAMES = ("orderId", "pk", "sk")


@dataclass(frozen=True)
class Prices:
    """us-east-1 on-demand, Standard table class (per million request units; per GB-month)."""

    write_per_million: float = 0.625
    read_per_million: float = 0.125
    storage_gb_month: float = 0.25


@dataclass(frozen=True)
class Workload:
    orders_per_month: int = 10_000_000
    reads_per_order: float = 3.0  # seed 001: 30 M reads for 10 M orders
    status_changes_per_order: int = 4  # PENDING -> CONFIRMED -> ... -> DELIVERED
    cache_hit_rate: float = 0.80  # docs/benchmarks.md: the default 5 s cache, Zipf reads
    replica_regions: int = 0
    counter_shards: int = 4


@dataclass(frozen=True)
class Written:
    """One projected item: its table (unprefixed), size in bytes, and whether it is new."""

    table: str
    size: int
    first: bool


@dataclass(frozen=True)
class Estimate:
    write_units: float
    read_units: float
    storage_gb: float
    write_cost: float
    read_cost: float
    storage_cost: float
    items_per_order: int
    sizes: dict[str, int]

    @property
    def total(self) -> float:
        return self.write_cost + self.read_cost + self.storage_cost


class _RecordingClient:
    """Stands in for DynamoDB: keeps every write request (an UpdateItem as a transaction of
    one), accepts them all."""

    def __init__(self) -> None:
        self.transactions: list[list[dict[str, Any]]] = []

    async def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.transactions.append(TransactItems)
        return {}

    async def update_item(self, **update: Any) -> dict[str, Any]:
        self.transactions.append([{"Update": update}])
        return {}


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one DynamoDB attribute value (the published sizing rules, approximately)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + attribute_size(v) for name, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    return 1  # BOOL, NULL


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def representative_events(status_changes: int) -> list[dict[str, Any]]:
    """The envelopes of one three-line order moving through `status_changes` statuses."""
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    order = Order.place(
        order_id=uuid.UUID(int=0x5E_ED),
        customer_id=str(uuid.UUID(int=1)),
        restaurant_id=str(uuid.UUID(int=2)),
        channel_id="default-channel",
        currency="USD",
        items=[
            OrderItem("pizza-margherita", "Pizza Margherita", 1, Money.of("15.99", "USD")),
            OrderItem("garlic-bread", "Garlic Bread", 2, Money.of("4.50", "USD")),
            OrderItem("cola-330", "Cola 330 ml", 2, Money.of("2.25", "USD")),
        ],
        delivery=DeliveryLocation("123 Main St", "New York", "10001", 40.7128, -74.006),
        now=now,
        estimated_delivery_time=now + timedelta(minutes=45),
    )
    for _ in range(status_changes):
        options = order.status.allowed_next()
        if not options:
            break
        now += timedelta(minutes=10)
        order.change_status(options[0], user_id="staff-7", now=now, metadata={})
    return [event.envelope() for event in order.events]


def projected_items(status_changes: int, shards: int = 4) -> list[Written]:
    """Every item the projector and the aggregator write for one order, each event in a batch
    of its own."""
    client = _RecordingClient()
    projector = Projector(client, "", expiry=Expiry())
    for envelope in representative_events(status_changes):
        asyncio.run(projector.project([envelope]))
    asyncio.run(_count(client, shards))
    written: list[Written] = []
    seen: set[str] = set()
    for transaction in client.transactions:
        for action in transaction:
            kind, body = next(iter(action.items()))
            item = body["Item"] if kind == "Put" else {**body["Key"], **_added(body)}
            key = body["TableName"] + repr([item.get(name) for name in KEY_NAMES])
            written.append(Written(body["TableName"], item_size(item), key not in seen))
            seen.add(key)
    return written


async def _count(client: _RecordingClient, shards: int) -> None:
    """The aggregator counting each history entry the projector wrote, one stream batch each."""
    aggregator = CounterAggregator(client, "", shards=shards)
    entries = [
        body["Item"]
        for transaction in list(client.transactions)
        for action in transaction
        for body in action.values()
        if body["TableName"] == "order-status-log"
    ]
    checkpoint = Checkpoint("stream-leases", "counters|stream", "shard-1", None)
    for number, entry in enumerate(entries, start=1):
        record = {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": entry, "SequenceNumber": str(number)},
        }
        checkpoint = await aggregator.apply(ShardBatch("shard-1", [record], checkpoint))


def _added(update: dict[str, Any]) -> dict[str, Any]:
    names = update.get("ExpressionAttributeNames", {})
    values = update.get("ExpressionAttributeValues", {})
    return {names[f"#{v[1:]}"]: values[v] for v in values if f"#{v[1:]}" in names}


def estimate(workload: Workload, prices: Prices, status: TableSpec = ORDER_STATUS) -> Estimate:
    """The monthly bill for `workload` at `prices`."""
    written = projected_items(workload.status_changes_per_order, workload.counter_shards)
    per_order = sum(_write_units(w, status) for w in written)
    replicated = sum(_kb(w.size) + _index_units(w, status) for w in written)
    orders = workload.orders_per_month
    writes = orders * (per_order + workload.replica_regions * replicated)
    reads = orders * workload.reads_per_order * (1 - workload.cache_hit_rate) * 0.5
    storage = _storage_bytes(written, workload, status) * (1 + workload.replica_regions) / GB
    sizes = {w.table: max(w.size, 0) for w in written}
    return Estimate(
        write_units=writes,
        read_units=reads,
        storage_gb=storage,
        write_cost=writes / 1e6 * prices.write_per_million,
        read_cost=reads / 1e6 * prices.read_per_million,
        storage_cost=storage * prices.storage_gb_month,
        items_per_order=len(written),
        sizes=sizes,
    )


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _index_units(written: Written, status: TableSpec) -> int:
    if written.table != status.name:
        return 0
    return len(status.indexes) * _kb(written.size) * (1 if written.first else 2)


def _write_units(written: Written, status: TableSpec) -> int:
    return 2 * _kb(written.size) + _index_units(written, status)


def _storage_bytes(written: list[Written], workload: Workload, status: TableSpec) -> float:
    """Steady state: status and details for 72 h, history for a year, counters for a year."""
    last: dict[str, int] = {}
    for item in written:
        last[item.table] = item.size
    live_orders = workload.orders_per_month * Expiry().status_hours / HOURS_PER_MONTH
    copies = 1 + len(status.indexes)
    current = live_orders * sum(
        (size + ITEM_OVERHEAD) * (copies if table == status.name else 1)
        for table, size in last.items()
        if table in (status.name, "order-details")
    )
    log_sizes = [w.size + ITEM_OVERHEAD for w in written if w.table == "order-status-log"]
    history = workload.orders_per_month * 12 * sum(log_sizes)
    counter_items = STATUSES * workload.counter_shards * HOURS_PER_MONTH * 12
    counter_size = max((w.size for w in written if w.table == "order-status-metrics"), default=0)
    return current + history + counter_items * (counter_size + ITEM_OVERHEAD)


SEED_001 = {"reads": 7.50, "writes": 12.50, "storage": 2.50, "dax": 54.00}
SEED_001_PRICES = Prices(write_per_million=1.25, read_per_million=0.25, storage_gb_month=0.25)
