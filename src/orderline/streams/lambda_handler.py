"""AWS Lambda entry point: the counter aggregator on the history stream's event source mapping.

Handler `orderline.streams.lambda_handler.handler`; environment `ORDERLINE_TABLE_PREFIX` (and
`ORDERLINE_COUNTER_SHARDS`, `ORDERLINE_AWS_REGION` when not the defaults). The mapping is the
one `orderline tables export --counters-lambda` writes: `ReportBatchItemFailures`, bisect on
error, an on-failure destination, one batch per shard at a time, and a tumbling window, which
is there only because with it Lambda names the batch's `shardId` in the event: checkpoints are
kept per shard, in the same lease table the `orderline aggregate` workers use.

Each batch is applied like the workers apply theirs: records at or before the shard's stored
checkpoint are skipped (a retried or re-delivered batch counts once), the rest is summed and
written with the checkpoint in one conditional transaction. On a failure the response names the
first record not applied, and Lambda retries from there.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import STREAM_LEASES
from orderline.config import Settings

from .counters import CONSUMER, CounterAggregator
from .leases import Checkpoint, CheckpointMoved, lease_stream, read_checkpoint
from .reader import ShardBatch, sequence_of
from .shards import after

log = logging.getLogger(__name__)
ATTEMPTS = 3


class MissingShardId(ValueError):
    """The event does not say which shard its records come from."""


@dataclass
class _Runtime:
    """An event loop and a DynamoDB client kept across warm invocations."""

    loop: asyncio.AbstractEventLoop
    client: DynamoDBClient
    settings: Settings


_runtime: _Runtime | None = None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The function's entry point (synchronous, as Lambda calls it)."""
    runtime = _runtime or _start()
    return runtime.loop.run_until_complete(
        handle_batch(
            event,
            runtime.client,
            prefix=runtime.settings.table_prefix,
            shards=runtime.settings.counter_shards,
        )
    )


def _start() -> _Runtime:
    global _runtime
    settings = Settings()
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()  # never closed: the client lives as long as the function instance
    client = loop.run_until_complete(stack.enter_async_context(dynamodb_client(settings)))
    _runtime = _Runtime(loop, client, settings)
    return _runtime


async def handle_batch(
    event: dict[str, Any], client: DynamoDBClient, *, prefix: str, shards: int
) -> dict[str, Any]:
    """Count one shard's batch; the ReportBatchItemFailures response (with `state` when the
    mapping has a tumbling window, as Lambda then requires)."""
    response: dict[str, Any] = {"batchItemFailures": []}
    if "window" in event:
        response["state"] = {}
    records: list[dict[str, Any]] = event.get("Records") or []
    if not records:
        return response
    shard_id = event.get("shardId")
    if not shard_id:
        raise MissingShardId(
            "the event names no shardId: give the event source mapping a TumblingWindowInSeconds "
            "(as `orderline tables export --counters-lambda` does)"
        )
    stream = lease_stream(CONSUMER, event.get("eventSourceARN") or records[0]["eventSourceARN"])
    table = STREAM_LEASES.table_name(prefix)
    aggregator = CounterAggregator(client, prefix, shards=shards)
    for _ in range(ATTEMPTS):
        try:
            stored = await read_checkpoint(client, table, stream, shard_id)
            fresh = [r for r in records if after(sequence_of(r), stored)]
            if fresh:
                position = Checkpoint(table, stream, shard_id, stored)
                await aggregator.apply(ShardBatch(shard_id, fresh, position))
            return response
        except CheckpointMoved:
            continue  # applied meanwhile by another reader: read the checkpoint again
        except Exception:
            log.exception("counting shard %s failed", shard_id)
            break
    first = await _first_unapplied(client, Checkpoint(table, stream, shard_id, None), records)
    if first is not None:
        response["batchItemFailures"] = [{"itemIdentifier": first}]
    return response


async def _first_unapplied(
    client: DynamoDBClient, position: Checkpoint, records: list[dict[str, Any]]
) -> str | None:
    """The sequence number Lambda should retry from: the first after the stored checkpoint."""
    try:
        stored = await read_checkpoint(client, position.table, position.stream, position.shard_id)
    except Exception:
        return sequence_of(records[0])  # unknown: from the start (applied ones are skipped)
    return next((sequence_of(r) for r in records if after(sequence_of(r), stored)), None)
