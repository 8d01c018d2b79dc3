"""The orders' read side: the views (cache -> DynamoDB -> PostgreSQL), the projector that keeps
DynamoDB, the counter aggregator that counts its history stream, write-through, and the table
router a live table migration steers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb.protocol import DynamoDBClient
from ..adapters.postgres.outbox import PostgresEventLog
from ..adapters.postgres.queries import PostgresOrderQueries
from ..config import Settings
from ..readmodel.ports import EventLog, OrderQueries
from ..readmodel.projector import Projector
from ..readmodel.rebuild import Reconciler, replay
from ..readmodel.routing import TableRouter
from ..readmodel.views import OrderViews
from ..readmodel.write_through import WriteThrough
from ..streams.counters import CounterConsumer
from ..workers.runner import in_background
from .aggregator import build_aggregator
from .contexts import open_router
from .profile import Profile
from .settings_map import counts_cache, expiry_of, read_cache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadSide:
    """What answers order queries, and what keeps DynamoDB up to date for them."""

    orders: OrderQueries  # PostgreSQL: the fallback tier, and the filtered listing
    events: EventLog  # the outbox: history when DynamoDB cannot answer, and replay
    views: OrderViews
    table_router: TableRouter
    projector: Projector | None = None  # None without DynamoDB
    write_through: WriteThrough | None = None  # projects each commit at once (API only)
    # counts the counters and gauges from the history stream (API, when `aggregates`)
    aggregator: CounterConsumer | None = None


def build_projector(
    client: DynamoDBClient,
    settings: Settings,
    prefix: str | None = None,
    on_applied: Callable[[], None] | None = None,
    router: TableRouter | None = None,
) -> Projector:
    return Projector(
        client,
        settings.table_prefix if prefix is None else prefix,
        expiry=expiry_of(settings),
        on_applied=on_applied,
        router=router,
    )


def build_reconciler(settings: Settings, engine: AsyncEngine, client: DynamoDBClient) -> Reconciler:
    """`orderline reconcile`: PostgreSQL against the read model under the configured prefix."""
    return Reconciler(
        PostgresOrderQueries(engine), client, settings.table_prefix, expiry_of(settings)
    )


def build_views(
    settings: Settings,
    orders: OrderQueries,
    events: EventLog,
    dynamodb: DynamoDBClient | None,
    router: TableRouter | None = None,
) -> OrderViews:
    """The query side: cache -> DynamoDB -> PostgreSQL."""
    return OrderViews(
        orders,
        dynamodb,
        settings.table_prefix,
        read_cache(settings),
        events=events,
        expiry=expiry_of(settings),
        shards=settings.counter_shards,
        enabled=settings.read_model,
        counts_cache=counts_cache(settings),
        router=router,
    )


async def open_read_side(
    stack: AsyncExitStack,
    settings: Settings,
    profile: Profile,
    engine: AsyncEngine,
    dynamodb: DynamoDBClient | None,
    reader: DynamoDBClient | None = None,
) -> ReadSide:
    """The views (their cache warmed for the API) and the projector, both following the table
    router; the aggregator where the profile counts; write-through for the API; the read model
    replayed at start when configured. The views read with `reader` (the region-choosing
    client) when given; the projector writes with `dynamodb` (the home region)."""
    orders, events = PostgresOrderQueries(engine), PostgresEventLog(engine)
    router = await open_router(settings, engine)
    views = build_views(settings, orders, events, reader or dynamodb, router)
    if profile.starts_background:
        await _warm_cache(views, settings.cache_warm_orders)
    if dynamodb is None:
        return ReadSide(orders, events, views, router)
    aggregator = None
    if profile.counts(settings):
        aggregator = await build_aggregator(stack, settings, dynamodb, views.counts_changed)
    # the aggregator (if any) is woken by every projection: the history stream has new entries
    wake = aggregator.wake if aggregator is not None else None
    projector = build_projector(dynamodb, settings, None, wake, router)
    write_through = None
    if profile.starts_background:
        write_through = await _open_write_through(stack, settings, projector, views)
    if profile.changes_schema and settings.replay_on_start:
        await _replay_at_start(events, projector)
    return ReadSide(orders, events, views, router, projector, write_through, aggregator)


def projects_in_process(settings: Settings) -> bool:
    """Whether this API process projects its own commits: its workers run the relay onto the
    in-process bus. With Kafka, or with the relay in another process (`--no-workers`), a
    projector elsewhere writes every event, so write-through only refreshes the cache."""
    return settings.workers and not settings.kafka_bootstrap_servers


async def _open_write_through(
    stack: AsyncExitStack, settings: Settings, projector: Projector, views: OrderViews
) -> WriteThrough | None:
    if not (settings.write_through and settings.read_model):
        return None
    write_through = WriteThrough(
        projector, observers=[views.observe], projects=projects_in_process(settings)
    )
    await stack.enter_async_context(in_background([write_through.run]))
    return write_through


async def _warm_cache(views: OrderViews, orders: int) -> None:
    if not orders:
        return
    started = time.perf_counter()
    warmed = await views.warm(orders)
    log.info("cached the status of %d orders in %.1f s", warmed, time.perf_counter() - started)


async def _replay_at_start(events: EventLog, projector: Projector) -> None:
    """The embedded emulator keeps nothing: rebuild the read model from the outbox."""
    try:
        result = await replay(events, projector)
    except (BotoCoreError, ClientError, OSError) as exc:
        log.warning("read model not rebuilt (%s); reads fall back to PostgreSQL", exc)
        return
    if result.events:
        log.info("rebuilt the read model from %d outbox events", result.events)
