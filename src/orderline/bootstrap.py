"""Composition root: engine, DynamoDB client, unit of work and message bus, defaults overridable."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters.dynamodb.admin import ensure_tables
from .adapters.dynamodb.client import dynamodb_client
from .adapters.kafka import KafkaPublisher, KafkaTopics, ensure_topics, projector_consumer
from .adapters.postgres.engine import build_engine
from .adapters.postgres.migrate import upgrade
from .adapters.postgres.queries import PostgresOrderQueries
from .adapters.postgres.unit_of_work import DEFAULT_CHANNEL, PostgresUnitOfWork
from .config import Settings
from .readmodel.cache import ReadCache
from .readmodel.documents import Expiry
from .readmodel.projector import Projector
from .readmodel.rebuild import replay
from .readmodel.views import OrderViews
from .readmodel.write_behind import WriteBehind
from .service_layer.bus import EventBus
from .service_layer.handlers import HANDLERS, Clock
from .service_layer.messagebus import MessageBus
from .workers.bus import InProcessBus
from .workers.consumer import KafkaProjection
from .workers.relay import Relay, RelayPolicy
from .workers.runner import Loop, in_background

log = logging.getLogger(__name__)
# With write-through, the relay leaves a new row alone this long: the API is projecting it.
WRITE_THROUGH_HOLD = timedelta(milliseconds=250)
COUNTS_CACHED = 64  # status-count ranges kept; each costs 28 Queries to compute


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _create_missing_tables(client: Any, prefix: str) -> None:
    """Start even when DynamoDB is down: writes go to the outbox, reads to PostgreSQL."""
    try:
        created = await ensure_tables(client, prefix)
    except (BotoCoreError, ClientError, OSError, TimeoutError) as exc:
        log.warning("DynamoDB tables not checked (%s); the read model is degraded", exc)
        return
    if created:
        log.info("created DynamoDB tables: %s", ", ".join(created))


@dataclass
class Container:
    """Everything a process runs on, built once and shared by API, CLI and tests."""

    settings: Settings
    engine: AsyncEngine
    bus: MessageBus
    orders: PostgresOrderQueries
    dynamodb: Any | None
    clock: Clock
    views: OrderViews
    projector: Projector | None = None
    relay: Relay | None = None
    publisher: KafkaPublisher | None = None
    write_behind: WriteBehind | None = None

    def worker_loops(self, *, relay: bool = True, project: bool = True) -> list[Loop]:
        """The loops this process should run: the relay, and with Kafka the projector."""
        loops: list[Loop] = []
        if relay and self.relay is not None:
            loops.append(self.relay.run)
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
            projector_consumer(KafkaTopics.from_settings(self.settings)),
            self.projector,
            self.publisher,
            max_attempts=self.settings.projector_max_attempts,
            observers=[self.views.observe],
        )


def expiry_of(settings: Settings) -> Expiry:
    return Expiry(
        status_hours=settings.read_model_ttl_hours, history_days=settings.history_ttl_days
    )


def build_projector(
    client: Any,
    settings: Settings,
    prefix: str | None = None,
    on_applied: Callable[[], None] | None = None,
) -> Projector:
    return Projector(
        client,
        settings.table_prefix if prefix is None else prefix,
        expiry=expiry_of(settings),
        shards=settings.counter_shards,
        on_applied=on_applied,
    )


def relay_policy(settings: Settings) -> RelayPolicy:
    return RelayPolicy(
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
        max_attempts=settings.relay_max_attempts,
        backoff_seconds=settings.relay_backoff_seconds,
        backoff_max_seconds=settings.relay_backoff_max_seconds,
    )


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
) -> AsyncIterator[Container]:
    """Build the container; close what it opened on exit. Pass `engine` to share one you own."""
    async with AsyncExitStack() as stack:
        if engine is None:
            if settings.database_url is None:
                raise ValueError("no database URL: start embedded services first")
            engine = build_engine(
                settings.database_url.get_secret_value(),
                schema=schema,
                pool_size=settings.db_pool_size,
            )
            stack.push_async_callback(engine.dispose)
        if migrate:
            await upgrade(engine)
        dynamodb = None
        if with_dynamodb and settings.dynamodb_endpoint is not None:
            dynamodb = await stack.enter_async_context(dynamodb_client(settings))
            if create_tables:
                await _create_missing_tables(dynamodb, settings.table_prefix)
        orders = PostgresOrderQueries(engine)
        cache: ReadCache[dict[str, Any]] = ReadCache(
            settings.cache_size, settings.cache_ttl_seconds, settings.negative_cache_seconds
        )
        views = OrderViews(
            orders,
            dynamodb,
            settings.table_prefix,
            cache,
            expiry=expiry_of(settings),
            shards=settings.counter_shards,
            enabled=settings.read_model,
            counts_cache=ReadCache(
                COUNTS_CACHED if settings.cache_size else 0, settings.cache_ttl_seconds, 0
            ),
        )
        if settings.cache_warm_orders:
            await _warm_cache(views, settings.cache_warm_orders)
        projector = after_commit = publisher = write_behind = None
        bus_port: EventBus | None = None
        if settings.kafka_bootstrap_servers:
            publisher = await stack.enter_async_context(_kafka_publisher(settings))
            bus_port = publisher
        if dynamodb is not None:
            projector = build_projector(dynamodb, settings, on_applied=views.counts_changed)
            if bus_port is None:
                bus_port = InProcessBus(projector, observers=[views.observe])
            if settings.write_through and settings.read_model:
                write_behind = WriteBehind(projector, observers=[views.observe])
                await stack.enter_async_context(in_background([write_behind.run]))
                after_commit = write_behind.offer
            if settings.replay_on_start:
                await _replay_at_start(engine, projector)
        relay = None
        if bus_port is not None:
            relay = Relay(
                engine, bus_port.publish, policy=relay_policy(settings), channel=notify_channel
            )
        hold = WRITE_THROUGH_HOLD if after_commit is not None else timedelta(0)
        bus = MessageBus(
            handlers=HANDLERS,
            uow_factory=lambda: PostgresUnitOfWork(engine, notify_channel, hold),
            dependencies={"clock": clock},
            after_commit=after_commit,
        )
        yield Container(
            settings=settings,
            engine=engine,
            bus=bus,
            orders=orders,
            dynamodb=dynamodb,
            clock=clock,
            views=views,
            projector=projector,
            relay=relay,
            publisher=publisher,
            write_behind=write_behind,
        )


@asynccontextmanager
async def _kafka_publisher(settings: Settings) -> AsyncIterator[KafkaPublisher]:
    topics = KafkaTopics.from_settings(settings)
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
    started = time.perf_counter()
    warmed = await views.warm(orders)
    log.info("cached the status of %d orders in %.1f s", warmed, time.perf_counter() - started)


async def _replay_at_start(engine: AsyncEngine, projector: Projector) -> None:
    """The embedded emulator keeps nothing: rebuild the read model from the outbox."""
    try:
        result = await replay(engine, projector)
    except (BotoCoreError, ClientError, OSError) as exc:
        log.warning("read model not rebuilt (%s); reads fall back to PostgreSQL", exc)
        return
    if result.events:
        log.info("rebuilt the read model from %d outbox events", result.events)
