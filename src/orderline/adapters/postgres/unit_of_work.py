"""The PostgreSQL unit of work: one connection, one transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderline.service_layer.unit_of_work import UnitOfWork

from .driver import Driver
from .repository import (
    PostgresIdempotencyStore,
    PostgresOrderRepository,
    PostgresOutbox,
    flush_update,
)

DEFAULT_CHANNEL = "orderline_outbox"


class PostgresUnitOfWork(UnitOfWork):
    def __init__(
        self,
        engine: AsyncEngine,
        notify_channel: str = DEFAULT_CHANNEL,
        relay_hold: timedelta = timedelta(0),
    ) -> None:
        """`relay_hold` keeps new rows from the relay briefly, while write-through projects them."""
        super().__init__()
        self._engine = engine
        self._channel = notify_channel
        self._hold = relay_hold
        self._conn: AsyncConnection | None = None
        self._driver: Driver | None = None

    async def _begin(self) -> None:
        conn = await self._engine.connect()
        self._conn = conn
        await conn.begin()
        driver = self._driver = await Driver.of(conn)  # the hot statements go to asyncpg
        self.orders = PostgresOrderRepository(conn, driver)
        self.outbox = PostgresOutbox(conn, self._channel, self._hold, driver)
        self.idempotency = PostgresIdempotencyStore(conn)

    async def _commit(self) -> None:
        assert self._conn is not None
        await flush_update(self._driver)
        await self._conn.commit()

    async def _close(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = self._driver = None
