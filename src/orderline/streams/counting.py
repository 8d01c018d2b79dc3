"""What a history entry counts, and runs of stream records summed per counter item.

Each `order-status-log` entry is counted once, when it appears in the table's stream as an
INSERT (DynamoDB writes no record for a put that changes nothing; moto writes a MODIFY, which is
not counted). For all restaurants and for the order's own restaurant, an entry into a status
(OrderPlaced, OrderStatusChanged) adds 1 and the order's total to the status's hourly counter
`STATUS#shard[#restaurant] / YYYY-MM-DDTHH`, and the gauge of orders now in each status
`current#shard[#restaurant] / STATUS` moves: +1 for a placed order, -1/+1 for a change, -1 for
a deletion. These are the items and keys `readmodel/counters.py` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.keys import counter_key, counter_shard, gauge_key, hour_bucket
from orderline.domain.order import Document
from orderline.readmodel.documents import parse_instant
from orderline.readmodel.envelopes import STATUS_EVENTS

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
CounterKey = tuple[str, str]  # (pk, sk) of an order-status-metrics item


@dataclass
class Sum:
    count: int = 0
    value: Decimal = field(default_factory=Decimal)

    def add(self, count: int, value: Decimal) -> None:
        self.count += count
        self.value += value

    def __bool__(self) -> bool:
        return bool(self.count or self.value)


def gauge_deltas(entry: Document) -> list[tuple[str, int]]:
    """How an entry moves the count of orders now in each status."""
    kind, status = entry.get("eventType"), str(entry["status"])
    if kind == "OrderPlaced":
        return [(status, 1)]
    if kind == "OrderStatusChanged" and entry.get("previousStatus"):
        return [(str(entry["previousStatus"]), -1), (status, 1)]
    if kind == "OrderDeleted":
        return [(status, -1)]
    return []


def entry_counts(entry: Document, shards: int) -> list[tuple[CounterKey, int, Decimal]]:
    """The increments one history entry causes: (counter item, count, total value)."""
    shard = counter_shard(str(entry["orderId"]), shards)
    restaurant = entry.get("restaurantId")
    counts: list[tuple[CounterKey, int, Decimal]] = []
    for scope in (None, str(restaurant)) if restaurant else (None,):
        if entry.get("eventType") in STATUS_EVENTS:
            hour = hour_bucket(parse_instant(str(entry["timestamp"])))
            key = (counter_key(str(entry["status"]), shard, scope), hour)
            counts.append((key, 1, Decimal(entry.get("totalAmount") or 0)))
        for status, delta in gauge_deltas(entry):
            counts.append(((gauge_key(shard, scope), status), delta, Decimal(0)))
    return counts


def inserted_entry(record: dict[str, Any]) -> Document | None:
    """The history entry a stream record inserted; None for any other record."""
    if record.get("eventName") != "INSERT":
        return None
    image = record.get("dynamodb", {}).get("NewImage")
    return from_item(image) if image else None


@dataclass
class Run:
    """Consecutive records of one shard, summed per counter item: one transaction's worth."""

    sums: dict[CounterKey, Sum] = field(default_factory=dict)
    last_sequence: str = ""
    entries: list[Document] = field(default_factory=list)

    def nonzero(self) -> dict[CounterKey, Sum]:
        return {key: total for key, total in self.sums.items() if total}


def runs(records: Iterable[dict[str, Any]], shards: int) -> Iterator[Run]:
    """Split records, in order, into runs whose counter items and checkpoint fit in one
    transaction (every record's increments stay in one run)."""
    room = MAX_TRANSACTION_ITEMS - 1  # the checkpoint is the transaction's last item
    run = Run()
    for record in records:
        entry = inserted_entry(record)
        counts = entry_counts(entry, shards) if entry is not None else []
        new_keys = {key for key, _, _ in counts} - run.sums.keys()
        if run.last_sequence and len(run.sums) + len(new_keys) > room:
            yield run
            run = Run()
        for key, count, value in counts:
            run.sums.setdefault(key, Sum()).add(count, value)
        if entry is not None:
            run.entries.append(entry)
        run.last_sequence = str(record["dynamodb"]["SequenceNumber"])
    if run.last_sequence:
        yield run
