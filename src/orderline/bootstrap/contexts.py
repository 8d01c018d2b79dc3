"""Builders of the bounded contexts beside the order pipeline: the forum, live tracking, and the
table router a zero-downtime table migration steers."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb.failover_writes import FailoverWrites
from ..adapters.dynamodb.protocol import DynamoDBClient
from ..adapters.dynamodb.regions import RegionalClient
from ..adapters.dynamodb.tables import FORUM_TABLES, ReadModelTables
from ..adapters.postgres.live_feed import PostgresChangeFeed
from ..adapters.postgres.table_migration_state import PostgresMigrationStates
from ..config import Settings
from ..forum.cache import ThreadCache
from ..forum.service import ForumService
from ..forum.snapshot import Snapshotter
from ..forum.store import ForumStore
from ..live.hub import Hub
from ..readmodel.table_migration import PhasedTableRouter
from ..workers.runner import in_background
from .settings_map import live_policy


def build_forum(
    client: DynamoDBClient, settings: Settings, prefix: str | None = None
) -> ForumService:
    """The forum on the process's DynamoDB client (its tables are FORUM_TABLES), its thread
    pages cached for `forum_cache_seconds`."""
    cache = ThreadCache(ttl=settings.forum_cache_seconds)
    return ForumService(build_forum_store(client, settings, prefix), cache)


def build_forum_store(
    client: DynamoDBClient, settings: Settings, prefix: str | None = None
) -> ForumStore:
    """The forum's tables under `prefix` (the configured one by default); with failover writes
    on and replica regions configured, writes follow the home region's circuit to a replica."""
    prefix = settings.table_prefix if prefix is None else prefix
    if isinstance(client, RegionalClient) and len(client.links) > 1:
        client = FailoverWrites(client) if settings.forum_failover_writes else client
    return ForumStore(client, prefix, settings.aws_region)


async def open_forum(
    stack: AsyncExitStack, settings: Settings, dynamodb: DynamoDBClient
) -> ForumService:
    """The forum; with snapshots on (the embedded emulator), its tables restored from the data
    dir first and snapshotted there every `forum_snapshot_seconds` and at shutdown."""
    if settings.forum_snapshot:
        snapshots = Snapshotter(
            dynamodb,
            settings.table_prefix,
            FORUM_TABLES,
            settings.data_dir / "forum-snapshot",
            settings.forum_snapshot_seconds,
        )
        await snapshots.restore_if_empty()
        await stack.enter_async_context(in_background([snapshots.run]))
    return build_forum(dynamodb, settings)


async def open_router(settings: Settings, engine: AsyncEngine) -> PhasedTableRouter:
    """The table router: where `order-status` reads and writes go; follows the phases of a
    zero-downtime table migration."""
    status_table = ReadModelTables.under(settings.table_prefix).status
    router = PhasedTableRouter(PostgresMigrationStates(engine), status_table)
    await router.refresh()
    return router


def build_live(settings: Settings, engine: AsyncEngine, notify_channel: str) -> Hub:
    """Live tracking: the hub follows the outbox (LISTEN on the commit channel, catch-up)."""
    return Hub(PostgresChangeFeed(engine, notify_channel), live_policy(settings))
