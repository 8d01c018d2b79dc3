"""Builders of the counter aggregator: inside a container (serve, tests) or on its own
(`orderline aggregate`, which needs DynamoDB only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from ..adapters.dynamodb.admin import ensure_tables
from ..adapters.dynamodb.client import dynamodb_client, streams_client
from ..adapters.dynamodb.tables import STREAM_TABLES, TABLES
from ..config import Settings
from ..streams.counters import CounterAggregator, CounterConsumer
from .settings_map import consumer_options


async def open_counting(
    stack: AsyncExitStack,
    settings: Settings,
    dynamodb: Any,
    on_counted: Callable[[], None] | None = None,
) -> CounterConsumer:
    """The aggregator on the history table's stream, with a Streams client of its own."""
    streams = await stack.enter_async_context(streams_client(settings))
    aggregator = CounterAggregator(
        dynamodb, settings.table_prefix, shards=settings.counter_shards, on_counted=on_counted
    )
    return CounterConsumer(
        dynamodb, streams, aggregator, settings.table_prefix, consumer_options(settings)
    )


@asynccontextmanager
async def aggregation(settings: Settings) -> AsyncIterator[CounterConsumer]:
    """`orderline aggregate`: DynamoDB clients and the aggregator; the tables checked first."""
    async with AsyncExitStack() as stack:
        dynamodb = await stack.enter_async_context(dynamodb_client(settings))
        await ensure_tables(dynamodb, settings.table_prefix, (*TABLES, *STREAM_TABLES))
        yield await open_counting(stack, settings, dynamodb)
