"""The items Orderline writes per order, recorded from the real projector and aggregator.

A representative order is played through its lifecycle by the domain and each event projected
by the real `Projector`, one event per batch (an order's events are minutes apart, so each
lands in a batch of its own), against a `RecordingClient` that keeps every request. Its history
entries are then counted by the real `CounterAggregator` as the stream batch it would see: the
order's entries among `batch_records` entries of other orders at `restaurants` restaurants
(uniformly, the least sharing), so counter items shared within the batch are billed once and
each record carries its share. Each item is sized by DynamoDB's rules (`attribute_size`).
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orderline.adapters.dynamodb.tables import (
    ORDER_DETAILS,
    ORDER_STATUS,
    ORDER_STATUS_LOG,
    STREAM_LEASES,
)
from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.readmodel.documents import Expiry
from orderline.readmodel.projector import Projector
from orderline.streams.counters import CounterAggregator
from orderline.streams.leases import Checkpoint
from orderline.streams.reader import ShardBatch

KEY_NAMES = ("orderId", "pk", "sk", "stream", "shardId")
KINDS = ("status", "status GSIs", "details", "history", "counters", "gauges", "checkpoints")


@dataclass(frozen=True)
class Request:
    """One write call: its operation and its actions ({"Put"|"Update": {... TableName ...}})."""

    operation: str
    actions: list[dict[str, Any]]

    @property
    def transactional(self) -> bool:
        return self.operation == "TransactWriteItems"


@dataclass
class RecordingClient:
    """Stands in for DynamoDB: keeps every write request and accepts them all (so conditional
    puts count as written: in steady state each event reaches DynamoDB once)."""

    requests: list[Request] = field(default_factory=list)

    @property
    def transactions(self) -> list[list[dict[str, Any]]]:
        return [r.actions for r in self.requests if r.transactional]

    async def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Request("TransactWriteItems", TransactItems))
        return {}

    async def update_item(self, **update: Any) -> dict[str, Any]:
        self.requests.append(Request("UpdateItem", [{"Update": update}]))
        return {}

    async def put_item(self, **put: Any) -> dict[str, Any]:
        self.requests.append(Request("PutItem", [{"Put": put}]))
        return {}

    async def batch_write_item(self, **request: Any) -> dict[str, Any]:
        puts = [
            {"Put": {"TableName": table, "Item": put["PutRequest"]["Item"]}}
            for table, requests in request["RequestItems"].items()
            for put in requests
        ]
        self.requests.append(Request("BatchWriteItem", puts))
        return {"UnprocessedItems": {}}


@dataclass(frozen=True)
class Written:
    """One item written: its table (unprefixed), kind, size in bytes, whether its key is new
    (a GSI copy is put, not moved), whether in a transaction, and its share of one order."""

    table: str
    kind: str
    size: int
    first: bool
    transactional: bool
    per_order: float = 1.0


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


@dataclass(frozen=True)
class Scenario:
    """What the recorded writes depend on."""

    status_changes: int = 4
    counter_shards: int = 4
    restaurants: int = 1_000
    batch_records: int = 1  # stream records per aggregator batch (one shard's poll)
    expiry: Expiry = field(default_factory=Expiry)


def written_per_order(scenario: Scenario) -> list[Written]:
    """Every item the projector and the aggregator write for one order."""
    return asyncio.run(_record(scenario))


async def _record(scenario: Scenario) -> list[Written]:
    projector_client = RecordingClient()
    projector = Projector(projector_client, "", expiry=scenario.expiry)
    for envelope in representative_events(scenario.status_changes):
        await projector.project([envelope])
    entries = [
        action["Put"]["Item"]
        for request in projector_client.requests
        for action in request.actions
        if action["Put"]["TableName"] == ORDER_STATUS_LOG.name
    ]
    counting_client = RecordingClient()
    await count_batch(counting_client, entries, scenario)
    share = len(entries) / max(scenario.batch_records, len(entries))
    return _sized(projector_client, 1.0) + _sized(counting_client, share)


async def count_batch(
    client: RecordingClient, entries: list[dict[str, Any]], scenario: Scenario
) -> None:
    """The aggregator counting the order's entries in stream batches of `batch_records`: with
    more, one batch filled up with entries of other orders (the order's, cycled), each at a
    random restaurant."""
    rng = random.Random(20)
    records = []
    for number in range(max(scenario.batch_records, len(entries))):
        entry = dict(entries[number % len(entries)])
        if number >= len(entries):
            entry["orderId"] = {"S": str(uuid.UUID(int=rng.getrandbits(128)))}
            entry["restaurantId"] = {"S": f"restaurant-{rng.randrange(scenario.restaurants)}"}
        records.append(
            {"eventName": "INSERT", "dynamodb": {"NewImage": entry, "SequenceNumber": str(number)}}
        )
    aggregator = CounterAggregator(client, "", shards=scenario.counter_shards)
    checkpoint = Checkpoint(STREAM_LEASES.name, "counters|stream", "shard-1", None)
    size = max(1, scenario.batch_records)
    for start in range(0, len(records), size):  # fewer records than the order's: a batch each
        batch = ShardBatch("shard-1", records[start : start + size], checkpoint)
        checkpoint = await aggregator.apply(batch)


def _sized(client: RecordingClient, share: float) -> list[Written]:
    written: list[Written] = []
    seen: set[str] = set()
    for request in client.requests:
        for action in request.actions:
            kind, body = next(iter(action.items()))
            item = body["Item"] if kind == "Put" else {**body["Key"], **_added(body)}
            key = body["TableName"] + repr([item.get(name) for name in KEY_NAMES])
            table = body["TableName"]
            size = item_size(item)
            first = key not in seen
            written.append(
                Written(table, kind_of(table, item), size, first, request.transactional, share)
            )
            seen.add(key)
    return written


def kind_of(table: str, item: dict[str, Any]) -> str:
    if table == ORDER_STATUS.name:
        return "status"
    if table == ORDER_DETAILS.name:
        return "details"
    if table == ORDER_STATUS_LOG.name:
        return "history"
    if table == STREAM_LEASES.name:
        return "checkpoints"
    return "gauges" if str(item["pk"]["S"]).startswith("current#") else "counters"


def _added(update: dict[str, Any]) -> dict[str, Any]:
    names = update.get("ExpressionAttributeNames", {})
    values = update.get("ExpressionAttributeValues", {})
    return {names[f"#{v[1:]}"]: values[v] for v in values if f"#{v[1:]}" in names}
