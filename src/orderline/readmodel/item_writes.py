"""The projector's two kinds of DynamoDB write, each billed as an ordinary (1x) write.

- `put_all`: idempotent puts by BatchWriteItem, 25 a call, `UnprocessedItems` retried under
  backoff; a call DynamoDB refuses for good (ValidationException) is retried item by item, so
  only the bad item's owner is refused.
- `put_newer`: a conditional PutItem that applies only over an older version (or no item);
  refused by its condition means stale, which is not an error.

Transient failures (throttling, an outage) raise, so the caller's batch is retried whole.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.errors import is_condition_failed, is_transient
from orderline.adapters.dynamodb.protocol import ProjectionWriter

BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
UNPROCESSED_ATTEMPTS = 8
BACKOFF_SECONDS = 0.02
NEWER_ONLY = "attribute_not_exists(orderId) OR #version < :version"


@dataclass(frozen=True)
class Put:
    """One item to put, and whose it is (an event id: who is refused if DynamoDB refuses it)."""

    owner: str
    table: str
    item: dict[str, Any]  # DynamoDB JSON


class Outcome(Enum):
    WRITTEN = "written"
    STALE = "stale"  # the table holds the same or a newer version


async def put_all(
    client: ProjectionWriter, puts: Sequence[Put], gate: asyncio.Semaphore
) -> dict[str, str]:
    """Put every item (concurrent calls of 25, at most `gate` in flight); return the owners
    DynamoDB refused for good, with the reason."""
    chunks = [puts[at : at + BATCH_WRITE_ITEMS] for at in range(0, len(puts), BATCH_WRITE_ITEMS)]
    refused: dict[str, str] = {}
    results = await asyncio.gather(
        *(_put_chunk(client, chunk, gate) for chunk in chunks), return_exceptions=True
    )
    for result in results:  # every call has ended: none is left writing when this raises
        if isinstance(result, BaseException):
            raise result
        refused.update(result)
    return refused


async def _put_chunk(
    client: ProjectionWriter, chunk: Sequence[Put], gate: asyncio.Semaphore
) -> dict[str, str]:
    try:
        async with gate:
            await batch_put(client, chunk)
        return {}
    except ClientError as exc:
        if is_transient(exc):
            raise
        if len(chunk) == 1:
            return {chunk[0].owner: f"DynamoDB refused the event's {chunk[0].table} item: {exc}"}
    refused: dict[str, str] = {}
    for put in chunk:  # find the bad item(s): each alone
        refused.update(await _put_chunk(client, [put], gate))
    return refused


async def batch_put(client: ProjectionWriter, puts: Sequence[Put]) -> None:
    """One BatchWriteItem of up to 25 puts; its `UnprocessedItems` retried under backoff."""
    pending: dict[str, list[dict[str, Any]]] = {}
    for put in puts:
        pending.setdefault(put.table, []).append({"PutRequest": {"Item": put.item}})
    for attempt in range(UNPROCESSED_ATTEMPTS):
        response = await client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        await asyncio.sleep(BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.5))
    left = sum(len(requests) for requests in pending.values())
    raise ClientError(  # throttled for this long: transient, the whole batch is retried later
        {
            "Error": {
                "Code": "ProvisionedThroughputExceededException",
                "Message": f"{left} items still unprocessed after {UNPROCESSED_ATTEMPTS} attempts",
            }
        },
        "BatchWriteItem",
    )


async def put_newer(
    client: ProjectionWriter, table: str, item: dict[str, Any], version: int
) -> Outcome:
    """Put `item` unless `table` holds the same or a newer version of it."""
    try:
        await client.put_item(**put_if_newer(table, item, version))
    except ClientError as exc:
        if is_condition_failed(exc):
            return Outcome.STALE
        raise
    return Outcome.WRITTEN


def put_if_newer(table: str, item: dict[str, Any], version: int) -> dict[str, Any]:
    """A PutItem request (DynamoDB JSON item) applying only over an older version or no item."""
    return {
        "TableName": table,
        "Item": item,
        "ConditionExpression": NEWER_ONLY,
        "ExpressionAttributeNames": {"#version": "version"},
        "ExpressionAttributeValues": {":version": {"N": str(version)}},
    }
