"""Composition root: engine, DynamoDB client, unit of work and message bus, defaults overridable."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters.dynamodb.admin import ensure_tables
from .adapters.dynamodb.client import dynamodb_client
from .adapters.postgres.engine import build_engine
from .adapters.postgres.migrate import upgrade
from .adapters.postgres.queries import PostgresOrderQueries
from .adapters.postgres.unit_of_work import DEFAULT_CHANNEL, PostgresUnitOfWork
from .config import Settings
from .service_layer.handlers import HANDLERS, Clock
from .service_layer.messagebus import MessageBus

log = logging.getLogger(__name__)


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
        bus = MessageBus(
            handlers=HANDLERS,
            uow_factory=lambda: PostgresUnitOfWork(engine, notify_channel),
            dependencies={"clock": clock},
        )
        yield Container(
            settings=settings,
            engine=engine,
            bus=bus,
            orders=PostgresOrderQueries(engine),
            dynamodb=dynamodb,
            clock=clock,
        )
