"""The DynamoDB requests the forum is made of: transactions with their conflict retries, batch
writes with their unprocessed-item retries, key pages, counts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import Item, from_item, to_attribute
from orderline.adapters.dynamodb.protocol import DynamoDBClient

from .model import Key, Page

TRANSACT_ATTEMPTS = 12
BATCH_WRITE_LIMIT = 25
UNPROCESSED_ATTEMPTS = 10
BACKOFF_SECONDS = 0.01


class Cancelled(Exception):
    """A transaction refused because a condition failed; `reasons` per item ("None" = fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


class Busy(Exception):
    """DynamoDB kept refusing (conflicts, unprocessed items) after every retry."""


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from plain values: `values(v=1)` -> {":v": {"N": "1"}}."""
    return {f":{name}": to_attribute(value) for name, value in named.items()}


def key_of(item: Item, names: Sequence[str]) -> Key:
    return {name: str(item[name]) for name in names}


def raw_key(key: Key) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


async def transact(client: DynamoDBClient, writes: list[dict[str, Any]]) -> None:
    """TransactWriteItems; conflicts with other transactions are retried with jittered
    backoff, a failed condition raises `Cancelled`."""
    for attempt in range(TRANSACT_ATTEMPTS):
        try:
            await client.transact_write_items(TransactItems=writes)
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "TransactionConflictException":
                reasons = ["TransactionConflict"]
            elif code == "TransactionCanceledException":
                reasons = [
                    r.get("Code", "None") for r in exc.response.get("CancellationReasons") or []
                ]
            else:
                raise
            if "ConditionalCheckFailed" in reasons:
                raise Cancelled(reasons) from None
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** min(attempt, 6) * random.uniform(0.5, 1.5))
    raise Busy(f"transaction still conflicting after {TRANSACT_ATTEMPTS} attempts")


async def batch_write(client: DynamoDBClient, table: str, requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem of up to 25 put/delete requests; UnprocessedItems retried with backoff."""
    pending: dict[str, Any] = {table: requests}
    for attempt in range(UNPROCESSED_ATTEMPTS):
        response = await client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        await asyncio.sleep(BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.5))
    raise Busy(f"{len(pending.get(table, []))} items still unprocessed by BatchWriteItem")


async def write_all(
    client: DynamoDBClient, table: str, requests: list[dict[str, Any]], *, parallel: int = 8
) -> None:
    """Any number of write requests, 25 per call, `parallel` calls in flight."""
    chunks = [
        requests[at : at + BATCH_WRITE_LIMIT] for at in range(0, len(requests), BATCH_WRITE_LIMIT)
    ]
    gate = asyncio.Semaphore(parallel)

    async def one(chunk: list[dict[str, Any]]) -> None:
        async with gate:
            await batch_write(client, table, chunk)

    await asyncio.gather(*(one(chunk) for chunk in chunks))


async def existing_keys(
    client: DynamoDBClient, table: str, keys: list[Key]
) -> set[tuple[str, ...]]:
    """Which of `keys` are present (BatchGetItem, 100 at a time, unprocessed retried)."""
    found: set[tuple[str, ...]] = set()
    for at in range(0, len(keys), 100):
        chunk = keys[at : at + 100]
        names = list(chunk[0])
        request: dict[str, Any] = {
            table: {
                "Keys": [raw_key(k) for k in chunk],
                "ProjectionExpression": ", ".join(f"#k{n}" for n in range(len(names))),
                "ExpressionAttributeNames": {f"#k{n}": name for n, name in enumerate(names)},
            }
        }
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = await client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw)
                found.add(tuple(str(item[name]) for name in names))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
        if request:
            raise Busy("BatchGetItem kept keys unprocessed")
    return found


async def query_page(
    client: DynamoDBClient,
    request: dict[str, Any],
    limit: int,
    key_names: Sequence[str],
    after: Key | None,
) -> Page:
    """One page of at most `limit` items; asks for one more to know whether a next page exists,
    so the last page has no cursor. The cursor is the key of the last item returned."""
    ask = dict(request, Limit=limit + 1)
    if after is not None:
        ask["ExclusiveStartKey"] = raw_key(after)
    response = await client.query(**ask)
    items = [from_item(raw) for raw in response.get("Items", [])]
    if len(items) > limit:
        items = items[:limit]
        return Page(items, key_of(items[-1], key_names))
    last = response.get("LastEvaluatedKey")
    if last and items:  # a page cut short by the 1 MB limit
        return Page(items, key_of(items[-1], key_names))
    return Page(items, None)


async def query_keys(client: DynamoDBClient, request: dict[str, Any]) -> list[Item]:
    """Every item a Query matches (as projected), following LastEvaluatedKey."""
    items: list[Item] = []
    ask = dict(request)
    while True:
        response = await client.query(**ask)
        items += [from_item(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if not last:
            return items
        ask["ExclusiveStartKey"] = last


async def count(
    client: DynamoDBClient,
    table: str,
    *,
    filter_expression: str | None = None,
    names: dict[str, str] | None = None,
) -> int:
    """Items of a table by paged `Scan Select=COUNT` (never the approximate ItemCount)."""
    request: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    if filter_expression:
        request["FilterExpression"] = filter_expression
        request["ExpressionAttributeNames"] = names or {}
    total = 0
    while True:
        response = await client.scan(**request)
        total += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if not last:
            return total
        request["ExclusiveStartKey"] = last
