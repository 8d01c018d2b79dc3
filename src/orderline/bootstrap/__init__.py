"""Composition root: small builders (write side, read side, event bus, relay) and `bootstrap`,
which composes them. Every mapping from Settings to a component's configuration lives here;
adapters and workers never see Settings (the DynamoDB client factory aside)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb import requests
from ..adapters.dynamodb.admin import ensure_tables
from ..adapters.dynamodb.client import dynamodb_client
from ..adapters.dynamodb.tables import FORUM_TABLES, STREAM_TABLES
from ..adapters.in_process import InProcessEventBus
from ..adapters.kafka import KafkaPublisher, KafkaTopics, ensure_topics, projector_consumer
from ..adapters.postgres.engine import build_engine
from ..adapters.postgres.migrate import upgrade
from ..adapters.postgres.outbox import PostgresEventLog
from ..adapters.postgres.queries import PostgresOrderQueries
from ..adapters.postgres.unit_of_work import DEFAULT_CHANNEL, PostgresUnitOfWork
from ..auth.authenticator import Authenticator
from ..config import Settings
from ..forum.service import ForumService
from ..live.hub import Hub
from ..ops.live import LiveRouter
from ..ops.retention import RetentionLoop
from ..readmodel.cache import ReadCache
from ..readmodel.projector import Projector
from ..readmodel.rebuild import Reconciler, replay
from ..readmodel.routing import TableRouter
from ..readmodel.views import OrderViews
from ..readmodel.write_through import WriteThrough
from ..service_layer.dispatcher import CommandDispatcher
from ..service_layer.event_bus import EventBus
from ..service_layer.handlers import HANDLERS, Clock
from ..streams.counters import CounterConsumer
from ..workers.consumer import KafkaProjection
from ..workers.relay import Relay
from ..workers.runner import Loop, in_background
from .contexts import build_forum, build_live, open_forum, open_router
from .counting import aggregation, open_counting
from .settings_map import (
    aggregates,
    build_auth,
    cursor_secret,
    dev_signer,
    expiry_of,
    kafka_topics,
    relay_policy,
    retention_policy,
    with_replay_default,
)

__all__ = [
    "Container",
    "aggregates",
    "aggregation",
    "bootstrap",
    "build_auth",
    "build_forum",
    "build_live",
    "build_projector",
    "build_reconciler",
    "cursor_secret",
    "dev_signer",
    "expiry_of",
    "kafka_topics",
    "relay_policy",
    "retention_policy",
    "with_replay_default",
]
log = logging.getLogger(__name__)
# With write-through, the relay leaves a new row alone this long: the API is projecting it.
WRITE_THROUGH_HOLD = timedelta(milliseconds=250)
COUNTS_CACHED = 64  # status-count ranges kept; each costs 28 Queries to compute
Probe = Callable[[], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    """Everything a process runs on, built once and shared by API, CLI and tests."""

    settings: Settings
    engine: AsyncEngine
    commands: CommandDispatcher
    orders: PostgresOrderQueries
    events: PostgresEventLog
    dynamodb: Any | None
    clock: Clock
    views: OrderViews
    projector: Projector | None = None
    relay: Relay | None = None
    publisher: KafkaPublisher | None = None
    write_through: WriteThrough | None = None
    auth: Authenticator = field(default_factory=lambda: Authenticator(None))
    forum: ForumService | None = None
    live: Hub | None = None  # the API's change fan-out (SSE); its loop runs in the API lifespan
    router: LiveRouter | None = None
    aggregator: CounterConsumer | None = None  # counts the counters from the history stream

    def worker_loops(
        self, *, relay: bool = True, project: bool = True, aggregate: bool = True
    ) -> list[Loop]:
        """The loops to run: the relay and retention, with Kafka the projector, and the counter
        aggregator where the settings say so (`aggregates`)."""
        loops: list[Loop] = []
        if aggregate and self.aggregator is not None and aggregates(self.settings):
            loops.append(self.aggregator.run)
        if relay and self.relay is not None:
            loops.append(self.relay.run)
            if self.settings.retention_interval_seconds > 0:
                loops.append(RetentionLoop(self.engine, retention_policy(self.settings)).run)
        if project and self.publisher is not None and self.projector is not None:
            loops.append(self.kafka_projection().run)
        return loops

    def kafka_projection(self) -> KafkaProjection:
        """The Kafka consumer loop of a projector process (or of serve's workers)."""
        if self.publisher is None or self.projector is None:
            raise ValueError(
                "a Kafka projector needs ORDERLINE_KAFKA_BOOTSTRAP_SERVERS and DynamoDB"
            )
        return KafkaProjection(
            projector_consumer(kafka_topics(self.settings)),
            self.projector,
            self.publisher,
            max_attempts=self.settings.projector_max_attempts,
            observers=[self.views.observe],
        )

    def readiness_probes(self) -> dict[str, Probe]:
        """One probe per dependency, PostgreSQL first; each raises when its service is down."""
        probes: dict[str, Probe] = {"postgres": self.orders.ping}
        if self.dynamodb is not None:
            probes["dynamodb"] = partial(requests.ping, self.dynamodb)
        return probes


# -- builders -----------------------------------------------------------------------------------


def build_projector(
    client: Any,
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


def build_reconciler(settings: Settings, engine: AsyncEngine, client: Any) -> Reconciler:
    """`orderline reconcile`: PostgreSQL against the read model under the configured prefix."""
    return Reconciler(
        PostgresOrderQueries(engine), client, settings.table_prefix, expiry_of(settings)
    )


def build_read_side(
    settings: Settings,
    orders: PostgresOrderQueries,
    events: PostgresEventLog,
    dynamodb: Any,
    router: TableRouter | None = None,
) -> OrderViews:
    """The query side: cache -> DynamoDB -> PostgreSQL."""
    return OrderViews(
        orders,
        dynamodb,
        settings.table_prefix,
        ReadCache(settings.cache_size, settings.cache_ttl_seconds, settings.negative_cache_seconds),
        events=events,
        expiry=expiry_of(settings),
        shards=settings.counter_shards,
        enabled=settings.read_model,
        counts_cache=ReadCache(
            COUNTS_CACHED if settings.cache_size else 0, settings.cache_ttl_seconds, 0
        ),
        router=router,
    )


def build_write_side(
    engine: AsyncEngine,
    *,
    clock: Clock,
    notify_channel: str,
    write_through: WriteThrough | None,
    hold: timedelta,
) -> CommandDispatcher:
    """Commands -> handlers -> PostgreSQL unit of work; write-through after each commit."""
    relay_hold = hold if write_through is not None else timedelta(0)
    return CommandDispatcher(
        handlers=HANDLERS,
        uow_factory=lambda: PostgresUnitOfWork(engine, notify_channel, relay_hold),
        dependencies={"clock": clock},
        after_commit=write_through.offer if write_through is not None else None,
    )


def build_relay(
    settings: Settings, engine: AsyncEngine, bus: EventBus | None, notify_channel: str
) -> Relay | None:
    if bus is None:
        return None
    return Relay(engine, bus.publish, policy=relay_policy(settings), channel=notify_channel)


async def open_event_bus(
    stack: AsyncExitStack, settings: Settings, projector: Projector | None, views: OrderViews
) -> tuple[EventBus | None, KafkaPublisher | None]:
    """Kafka when configured, else the in-process bus (which needs DynamoDB); and the publisher."""
    if settings.kafka_bootstrap_servers:
        publisher = await stack.enter_async_context(_kafka_publisher(kafka_topics(settings)))
        return publisher, publisher
    if projector is not None:
        return InProcessEventBus(projector, observers=[views.observe]), None
    return None, None


async def open_write_through(
    stack: AsyncExitStack, settings: Settings, projector: Projector | None, views: OrderViews
) -> WriteThrough | None:
    if projector is None or not (settings.write_through and settings.read_model):
        return None
    write_through = WriteThrough(projector, observers=[views.observe])
    await stack.enter_async_context(in_background([write_through.run]))
    return write_through


async def open_engine(
    stack: AsyncExitStack, settings: Settings, schema: str | None, migrate: bool
) -> AsyncEngine:
    if settings.database_url is None:
        raise ValueError("no database URL: start embedded services first")
    engine = build_engine(
        settings.database_url.get_secret_value(), schema=schema, pool_size=settings.db_pool_size
    )
    stack.push_async_callback(engine.dispose)
    if migrate:
        await upgrade(engine)
    return engine


async def open_dynamodb(stack: AsyncExitStack, settings: Settings, create_tables: bool) -> Any:
    """The DynamoDB client; missing tables created unless told not to (DynamoDB may be down)."""
    if settings.dynamodb_endpoint is None:
        return None
    dynamodb = await stack.enter_async_context(dynamodb_client(settings))
    if create_tables:
        await _create_missing_tables(dynamodb, settings.table_prefix)
    return dynamodb


@asynccontextmanager
async def bootstrap(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    schema: str | None = None,
    clock: Clock = utc_now,
    notify_channel: str = DEFAULT_CHANNEL,
    migrate: bool = True,
    with_dynamodb: bool = True,
    create_tables: bool = True,
    write_through_hold: timedelta = WRITE_THROUGH_HOLD,
) -> AsyncIterator[Container]:
    """Build the container; close what it opened on exit. Pass `engine` to share one you own.

    `write_through_hold` is how long the relay leaves a new outbox row to write-through.
    """
    async with AsyncExitStack() as stack:
        if engine is None:
            engine = await open_engine(stack, settings, schema, migrate)
        elif migrate:
            await upgrade(engine)
        dynamodb = await open_dynamodb(stack, settings, create_tables) if with_dynamodb else None
        yield await _compose(
            stack, settings, engine, dynamodb, clock, notify_channel, write_through_hold
        )


async def _compose(
    stack: AsyncExitStack,
    settings: Settings,
    engine: AsyncEngine,
    dynamodb: Any,
    clock: Clock,
    notify_channel: str,
    hold: timedelta,
) -> Container:
    """Read side, event bus, write-through, relay and write side on an open engine and client."""
    orders, events = PostgresOrderQueries(engine), PostgresEventLog(engine)
    router = await open_router(settings, engine)
    views = build_read_side(settings, orders, events, dynamodb, router)
    await _warm_cache(views, settings.cache_warm_orders)
    aggregator = projector = None
    if dynamodb is not None:
        aggregator = await open_counting(stack, settings, dynamodb, views.counts_changed)
        # the aggregator is woken by every projection: the history stream has new entries
        projector = build_projector(dynamodb, settings, None, aggregator.wake, router)
    bus, publisher = await open_event_bus(stack, settings, projector, views)
    write_through = await open_write_through(stack, settings, projector, views)
    if projector is not None and settings.replay_on_start:
        await _replay_at_start(events, projector)
    commands = build_write_side(
        engine, clock=clock, notify_channel=notify_channel, write_through=write_through, hold=hold
    )
    return Container(
        settings=settings,
        auth=build_auth(settings),
        engine=engine,
        commands=commands,
        orders=orders,
        events=events,
        dynamodb=dynamodb,
        clock=clock,
        views=views,
        projector=projector,
        relay=build_relay(settings, engine, bus, notify_channel),
        publisher=publisher,
        write_through=write_through,
        forum=await open_forum(stack, settings, dynamodb) if dynamodb is not None else None,
        live=build_live(settings, engine, notify_channel),
        router=router,
        aggregator=aggregator,
    )


async def _create_missing_tables(client: Any, prefix: str) -> None:
    """Start even when DynamoDB is down: writes go to the outbox, reads to PostgreSQL."""
    try:
        created = await ensure_tables(client, prefix)
        created += await ensure_tables(client, prefix, (*STREAM_TABLES, *FORUM_TABLES))
    except (BotoCoreError, ClientError, OSError, TimeoutError) as exc:
        log.warning("DynamoDB tables not checked (%s); the read model is degraded", exc)
        return
    if created:
        log.info("created DynamoDB tables: %s", ", ".join(created))


@asynccontextmanager
async def _kafka_publisher(topics: KafkaTopics) -> AsyncIterator[KafkaPublisher]:
    created = await ensure_topics(topics)
    if created:
        log.info("created Kafka topics: %s", ", ".join(created))
    publisher = KafkaPublisher(topics)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


async def _warm_cache(views: OrderViews, orders: int) -> None:
    if not orders:
        return
    started = time.perf_counter()
    warmed = await views.warm(orders)
    log.info("cached the status of %d orders in %.1f s", warmed, time.perf_counter() - started)


async def _replay_at_start(events: PostgresEventLog, projector: Projector) -> None:
    """The embedded emulator keeps nothing: rebuild the read model from the outbox."""
    try:
        result = await replay(events, projector)
    except (BotoCoreError, ClientError, OSError) as exc:
        log.warning("read model not rebuilt (%s); reads fall back to PostgreSQL", exc)
        return
    if result.events:
        log.info("rebuilt the read model from %d outbox events", result.events)
