"""The projector's writes: unprocessed items retried, a refused call narrowed to its bad item,
and no item the API can cause is large enough to be refused."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain.money import Money
from orderline.domain.order import MAX_ITEMS, DeliveryLocation, Order, OrderItem
from orderline.entrypoints.api.schemas import MAX_METADATA_BYTES
from orderline.ops.provisioning.cost_recording import RecordingClient, item_size
from orderline.readmodel import item_writes
from orderline.readmodel.item_writes import Put, put_all
from orderline.readmodel.projector import Projector


class ThrottlingTable:
    """Leaves the last item of each call unprocessed `throttled` times; refuses calls holding an
    item marked bad, as DynamoDB refuses an oversized item (for the whole call)."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.calls: list[int] = []
        self.stored: dict[str, dict[str, Any]] = {}

    async def batch_write_item(self, **request: Any) -> dict[str, Any]:
        ((table, requests),) = request["RequestItems"].items()
        self.calls.append(len(requests))
        items = [r["PutRequest"]["Item"] for r in requests]
        if any("bad" in item for item in items):
            error = {"Code": "ValidationException", "Message": "Item size has exceeded"}
            raise ClientError({"Error": error}, "BatchWriteItem")
        if self.throttled:
            self.throttled -= 1
            *done, left = items
            self._store(done)
            return {"UnprocessedItems": {table: [{"PutRequest": {"Item": left}}]}}
        self._store(items)
        return {}

    async def put_item(self, **request: Any) -> dict[str, Any]:
        raise AssertionError("not used here")

    def _store(self, items: list[dict[str, Any]]) -> None:
        self.stored.update({item["id"]["S"]: item for item in items})


def puts(count: int, bad: frozenset[int] = frozenset()) -> list[Put]:
    return [
        Put(f"e{i}", "log", {"id": {"S": f"e{i}"}, **({"bad": {"S": "x"}} if i in bad else {})})
        for i in range(count)
    ]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(item_writes, "BACKOFF_SECONDS", 0.0)


async def test_unprocessed_items_are_retried_until_written() -> None:
    table = ThrottlingTable(throttled=3)
    assert await put_all(table, puts(60), asyncio.Semaphore(4)) == {}
    assert len(table.stored) == 60
    assert sorted(table.calls)[:3] == [1, 1, 1]  # the retries carry only what was left


async def test_items_still_unprocessed_raise_a_transient_error() -> None:
    table = ThrottlingTable(throttled=100)
    with pytest.raises(ClientError) as raised:
        await put_all(table, puts(2), asyncio.Semaphore(1))
    assert is_transient(raised.value)  # the batch is retried later, nothing lost


async def test_a_refused_call_rejects_only_the_owner_of_the_bad_item() -> None:
    table = ThrottlingTable(throttled=0)
    refused = await put_all(table, puts(30, bad=frozenset({7})), asyncio.Semaphore(4))
    assert set(refused) == {"e7"} and "refused" in refused["e7"]
    assert len(table.stored) == 29


def largest_order_events() -> list[dict[str, Any]]:
    """The envelopes of the largest order the API accepts, taken through its whole lifecycle:
    MAX_ITEMS lines, every text at its longest in 4-byte characters, the longest reason and
    metadata on each status change."""
    longest = "\U0001f355" * 200  # Text: 200 characters, 4 bytes each in UTF-8
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    items = [
        OrderItem(f"{n:064d}", longest, 1000, Money.of("99999.99", "USD")) for n in range(MAX_ITEMS)
    ]
    order = Order.place(
        order_id=uuid.uuid4(),
        customer_id="c" * 64,
        restaurant_id="r" * 64,
        channel_id="h" * 64,
        currency="USD",
        items=items,
        delivery=DeliveryLocation(longest, "\U0001f355" * 100, "9" * 20, -89.999999, 179.99999),
        now=now,
        estimated_delivery_time=now + timedelta(minutes=45),
    )
    metadata = {"note": "x" * (MAX_METADATA_BYTES - 20)}
    while options := order.status.allowed_next():
        now += timedelta(minutes=10)
        order.change_status(
            options[0], user_id="u" * 64, now=now, reason="\U0001f355" * 500, metadata=metadata
        )
    return [event.envelope() for event in order.events]


async def test_the_largest_accepted_order_writes_items_far_under_dynamodbs_limit() -> None:
    """Status and details are separate puts: a size refusal of one could split them. The API's
    limits make that impossible, with room to spare; this holds them to it."""
    client = RecordingClient()
    projector = Projector(client, "")
    for envelope in largest_order_events():
        assert (await projector.project([envelope])).rejected == {}
    sizes: dict[str, int] = {}
    for request in client.requests:
        for action in request.actions:
            table, size = action["Put"]["TableName"], item_size(action["Put"]["Item"])
            sizes[table] = max(size, sizes.get(table, 0))
    assert set(sizes) == {"order-status-log", "order-status", "order-details"}
    assert max(sizes.values()) < 400 * 1024 * 0.75, sizes  # a quarter of the limit to spare
