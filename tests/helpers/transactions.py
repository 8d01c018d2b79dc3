"""Outbox writes in transactions a test holds open, to order their xids, ids and commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderline.adapters.postgres import outbox
from orderline.adapters.postgres.repository import PostgresOutbox
from orderline.adapters.postgres.unit_of_work import DEFAULT_CHANNEL
from orderline.domain.order import Order
from orderline.live.ports import ChangeFeed, Released

from .factories import placed_order


class OpenTransaction:
    """One transaction on its own connection: it takes its xid and outbox ids when told, and
    commits (NOTIFY on the channel, as the unit of work does) or rolls back when told."""

    def __init__(self, conn: AsyncConnection, channel: str) -> None:
        self._conn = conn
        self._channel = channel

    async def take_xid(self) -> int:
        xid = await self._conn.scalar(text("SELECT pg_current_xact_id()::text"))
        return int(xid)

    async def write(self, order: Order | None = None) -> int:
        """Append the placing event of an order to the outbox; the row's outbox id."""
        order = order or placed_order()
        await PostgresOutbox(self._conn, self._channel).append(order.events)
        found = await self._conn.scalar(
            text("SELECT id FROM outbox WHERE event_id = :event"),
            {"event": order.events[0].event_id},
        )
        return int(found)

    async def claim_as_relay(self) -> int:
        """Lock due outbox rows as the relay does (`outbox.claim`); the xid that took."""
        assert await outbox.claim(self._conn, 100), "no outbox row to claim"
        return await self.take_xid()

    async def commit(self) -> None:
        await self._conn.commit()

    async def rollback(self) -> None:
        await self._conn.rollback()


@asynccontextmanager
async def open_transaction(
    engine: AsyncEngine, channel: str = DEFAULT_CHANNEL
) -> AsyncIterator[OpenTransaction]:
    async with engine.connect() as conn:
        await conn.begin()
        yield OpenTransaction(conn, channel)


async def settled(feed: ChangeFeed, after: int, limit: int = 10) -> Released:
    """`feed.since`, once no committed row waits for an older transaction: on a server shared
    with other tests, their open transactions hold ours back for a moment too."""
    for _ in range(500):  # 10 s at most
        released = await feed.since(after, limit)
        if not released.waiting:
            break
        await asyncio.sleep(0.02)
    return released
