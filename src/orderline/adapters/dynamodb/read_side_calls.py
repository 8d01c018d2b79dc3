"""The read side's DynamoDB calls (get, batch get, query pages, put, ping): one place for each
loop and its retry rule.

Items come back decoded (`codec.from_item`). Errors are the client's; callers decide with
`errors.is_transient` whether an outage is theirs to absorb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .codec import Item, from_item, to_item
from .protocol import DynamoDBClient

BATCH_GET_LIMIT = 100  # keys per BatchGetItem
UNPROCESSED_RETRIES = 5
UNPROCESSED_BACKOFF_SECONDS = 0.01  # doubles per retry: 10, 20, 40, 80, 160 ms


@dataclass
class BatchGot:
    """What a batch get found, by key value, and the keys DynamoDB left unprocessed."""

    items: dict[str, Item] = field(default_factory=dict)
    unprocessed: list[str] = field(default_factory=list)


async def get_item(
    client: DynamoDBClient, table: str, key_name: str, key: str, *, consistent: bool = False
) -> Item | None:
    response = await client.get_item(
        TableName=table, Key={key_name: {"S": key}}, ConsistentRead=consistent
    )
    item = response.get("Item")
    return from_item(item) if item else None


async def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[str],
    *,
    key_name: str = "orderId",
    retries: int = UNPROCESSED_RETRIES,
) -> BatchGot:
    """BatchGetItem over any number of distinct keys, at most 100 per call.

    `UnprocessedKeys` are asked again with doubling backoff, `retries` times per call; what is
    still unprocessed then is reported in `unprocessed`, for the caller to decide.
    """
    got = BatchGot()
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        chunk = keys[start : start + BATCH_GET_LIMIT]
        request: dict[str, Any] = {table: {"Keys": [{key_name: {"S": key}} for key in chunk]}}
        for attempt in range(retries + 1):
            response = await client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw)
                got.items[item[key_name]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt < retries:
                await asyncio.sleep(UNPROCESSED_BACKOFF_SECONDS * 2**attempt)
        if request:
            got.unprocessed += [key[key_name]["S"] for key in request[table]["Keys"]]
    return got


async def query_page(
    client: DynamoDBClient, request: dict[str, Any]
) -> tuple[list[Item], Item | None]:
    """One Query page: its items and the raw `LastEvaluatedKey` (None on the last page)."""
    response = await client.query(**request)
    items = [from_item(raw) for raw in response.get("Items", [])]
    return items, response.get("LastEvaluatedKey") or None


async def query_all(client: DynamoDBClient, request: dict[str, Any]) -> list[Item]:
    """Every item a Query matches, following `LastEvaluatedKey`."""
    items: list[Item] = []
    page = dict(request)
    while True:
        found, last = await query_page(client, page)
        items += found
        if last is None:
            return items
        page["ExclusiveStartKey"] = last


async def put_item(
    client: DynamoDBClient,
    table: str,
    item: Item,
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """PutItem, optionally conditional (`values` are already DynamoDB attribute values)."""
    request: dict[str, Any] = {"TableName": table, "Item": to_item(item)}
    if condition is not None:
        request["ConditionExpression"] = condition
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    await client.put_item(**request)


async def ping(client: DynamoDBClient) -> None:
    """The cheapest call that proves DynamoDB answers (readiness)."""
    await client.list_tables(Limit=1)
