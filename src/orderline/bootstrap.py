"""Composition root: engine, DynamoDB client, unit of work and message bus, defaults overridable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters.dynamodb.client import dynamodb_client
from .adapters.postgres.engine import build_engine
from .adapters.postgres.migrate import upgrade
from .adapters.postgres.queries import PostgresOrderQueries
from .adapters.postgres.unit_of_work import DEFAULT_CHANNEL, PostgresUnitOfWork
from .config import Settings
from .service_layer.handlers import HANDLERS, Clock
from .service_layer.messagebus import MessageBus

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def utc_now() -> datetime:
    return datetime.now(UTC)


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
            emulator = urlparse(settings.dynamodb_endpoint).hostname in LOCAL_HOSTS
            dynamodb = await stack.enter_async_context(dynamodb_client(settings, emulator=emulator))
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
