"""The counter aggregator (`streams/counters.py`) on the history table's stream: in a container's
read side (`serve` with an emulator, tests), or as a process of its own (`orderline aggregate`,
which needs DynamoDB only and so no container: it opens no PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from ..adapters.dynamodb.admin import ensure_tables
from ..adapters.dynamodb.protocol import DynamoDBClient
from ..adapters.dynamodb.tables import STREAM_TABLES, TABLES
from ..config import Settings
from ..streams.counters import CounterAggregator, CounterConsumer
from .openers import open_dynamodb, open_streams
from .settings_map import consumer_options


async def build_aggregator(
    stack: AsyncExitStack,
    settings: Settings,
    dynamodb: DynamoDBClient,
    on_counted: Callable[[], None] | None = None,
) -> CounterConsumer:
    """The aggregator on the history table's stream, with a Streams client of its own (closed
    with `stack`); `on_counted` is told after counts changed."""
    streams = await stack.enter_async_context(open_streams(settings))
    aggregator = CounterAggregator(
        dynamodb, settings.table_prefix, shards=settings.counter_shards, on_counted=on_counted
    )
    return CounterConsumer(
        dynamodb, streams, aggregator, settings.table_prefix, consumer_options(settings)
    )


@asynccontextmanager
async def open_aggregator(settings: Settings) -> AsyncIterator[CounterConsumer]:
    """`orderline aggregate`: the DynamoDB clients and the aggregator; the tables checked first."""
    async with AsyncExitStack() as stack:
        dynamodb = await stack.enter_async_context(open_dynamodb(settings))
        await ensure_tables(dynamodb, settings.table_prefix, (*TABLES, *STREAM_TABLES))
        yield await build_aggregator(stack, settings, dynamodb)
