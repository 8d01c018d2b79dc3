"""The projector's writes: unprocessed items retried, a refused call narrowed to its bad item."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.errors import is_transient
from orderline.readmodel import item_writes
from orderline.readmodel.item_writes import Put, put_all


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
