"""The connections a process opens: its PostgreSQL engine, its DynamoDB client and (to read the
history table's stream) its DynamoDB Streams client.

`bootstrap` opens them for a container; CLI commands that need only a connection (backups,
table admin, replay, reconcile) open them here too, so every process reaches PostgreSQL and
DynamoDB the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb.admin import ensure_tables
from ..adapters.dynamodb.client import dynamodb_client, streams_client
from ..adapters.dynamodb.protocol import DynamoDBClient, DynamoDBStreamsClient
from ..adapters.dynamodb.regions import RegionalClient
from ..adapters.dynamodb.tables import FORUM_TABLES, STREAM_TABLES
from ..adapters.postgres.engine import build_engine
from ..config import Settings
from .settings_map import circuit_policy

log = logging.getLogger(__name__)
TOOL_POOL_SIZE = 2  # a one-off command runs a query or two at a time


@asynccontextmanager
async def open_engine(
    settings: Settings, *, schema: str | None = None, pool_size: int | None = None
) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured PostgreSQL (nothing migrated), disposed on exit.

    `pool_size` defaults to the configured one (`db_pool_size`).
    """
    if settings.database_url is None:
        raise ValueError("no database URL: start embedded services first")
    engine = build_engine(
        settings.database_url.get_secret_value(),
        schema=schema,
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
    )
    try:
        yield engine
    finally:
        await engine.dispose()


def open_dynamodb(settings: Settings) -> AbstractAsyncContextManager[DynamoDBClient]:
    """The configured DynamoDB's client (tables left as they are), closed on exit."""
    return dynamodb_client(settings)


@asynccontextmanager
async def open_regions(settings: Settings, home: DynamoDBClient) -> AsyncIterator[RegionalClient]:
    """The region-choosing client on `home` (the process's client) and one client per replica
    region, closed on exit: reads fail over, writes stay home."""
    regions = settings.regions()
    async with AsyncExitStack() as stack:
        links: list[tuple[str, DynamoDBClient]] = [(regions.home.name, home)]
        for replica in regions.replicas:
            client = await stack.enter_async_context(dynamodb_client(settings, replica))
            links.append((replica.name, client))
        yield RegionalClient(links, circuit_policy(settings), settings.region_read_timeout_seconds)


def open_streams(settings: Settings) -> AbstractAsyncContextManager[DynamoDBStreamsClient]:
    """The configured DynamoDB's Streams client (same endpoint and retries), closed on exit."""
    return streams_client(settings)


async def create_missing_tables(client: DynamoDBClient, prefix: str) -> None:
    """Start even when DynamoDB is down: writes go to the outbox, reads to PostgreSQL."""
    try:
        created = await ensure_tables(client, prefix)
        created += await ensure_tables(client, prefix, (*STREAM_TABLES, *FORUM_TABLES))
    except (BotoCoreError, ClientError, OSError, TimeoutError) as exc:
        log.warning("DynamoDB tables not checked (%s); the read model is degraded", exc)
        return
    if created:
        log.info("created DynamoDB tables: %s", ", ".join(created))
