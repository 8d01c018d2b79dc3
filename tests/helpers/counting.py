"""Waiting for the counters: they are counted from the history table's stream, after projection.

`counted(container)` runs the container's aggregator (tests run no background loops) until the
counter items equal a recount of the history table; `settled(client, prefix)` only waits for
that, for a test whose server counts in the background. `lambda_event` reads a shard's records
as the Lambda event source mapping hands them to the handler.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from orderline.adapters.dynamodb.protocol import DynamoDBClient, DynamoDBStreamsClient
from orderline.bootstrap import Container, open_dynamodb
from orderline.config import Settings
from orderline.streams.recount import Difference, compare
from orderline.streams.shards import describe, stream_of

DEADLINE_SECONDS = 30.0


async def settled(
    client: DynamoDBClient, prefix: str, shards: int = 4, *, seconds: float = DEADLINE_SECONDS
) -> None:
    """Wait until the counters equal a recount of the history table (AssertionError if not)."""
    deadline = time.monotonic() + seconds
    while differences := await compare(client, prefix, shards):
        if time.monotonic() > deadline:
            raise AssertionError(f"counters differ from the history: {_shown(differences)}")
        await asyncio.sleep(0.1)


async def server_settled(settings: Settings) -> None:
    """`settled` for a running server's tables (its aggregator counts in the background)."""
    async with open_dynamodb(settings) as dynamodb:
        await settled(dynamodb, settings.table_prefix, settings.counter_shards)


async def counted(container: Container, *, seconds: float = DEADLINE_SECONDS) -> None:
    """Count what the history stream holds with the container's aggregator, until the counters
    equal a recount of the history table."""
    assert container.aggregator is not None and container.dynamodb is not None
    prefix, shards = container.settings.table_prefix, container.settings.counter_shards
    deadline = time.monotonic() + seconds
    while True:
        await container.aggregator.catch_up()
        differences = await compare(container.dynamodb, prefix, shards)
        if not differences:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"counters differ from the history: {_shown(differences)}")
        await asyncio.sleep(0.1)


def _shown(differences: list[Difference]) -> str:
    return "; ".join(str(d) for d in differences[:5]) + (" …" if len(differences) > 5 else "")


async def lambda_event(
    dynamodb: DynamoDBClient, streams: DynamoDBStreamsClient, prefix: str
) -> dict[str, Any]:
    """One shard's records as Lambda's event source mapping hands them over."""
    arn = await stream_of(dynamodb, f"{prefix}order-status-log")
    (shard,) = await describe(streams, arn)
    position = await streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
    )
    page = await streams.get_records(ShardIterator=position["ShardIterator"])
    return {
        "Records": [{**record, "eventSourceARN": arn} for record in page["Records"]],
        "shardId": shard.shard_id,
        "eventSourceARN": arn,
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
        "state": {},
        "isFinalInvokeForWindow": False,
    }
