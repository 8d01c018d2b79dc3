"""The outbox as live tracking's change feed (`live.ports.ChangeFeed`), and its LISTEN."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import String, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.live.changes import Change, Topic

from .tables import outbox

_ORDER = outbox.c.payload["payload"]["order"]
# An outbox row's restaurant, written exactly as the index outbox_by_restaurant (migration 0004)
# declares it, so a restaurant stream's replay reads by index instead of filtering every row.
restaurant_of_row = literal_column(
    "(outbox.payload -> 'payload' -> 'order' ->> 'restaurantId')", String
)


class PostgresChangeFeed:
    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self._engine = engine
        self._channel = channel

    async def head(self) -> int:
        async with self._engine.connect() as conn:
            head = await conn.execute(select(func.coalesce(func.max(outbox.c.id), 0)))
            return int(head.scalar_one())

    async def since(self, after: int, also: Sequence[int], limit: int) -> list[Change]:
        condition = outbox.c.id > after
        if also:
            condition = or_(condition, outbox.c.id.in_(list(also)))
        query = select(outbox.c.id, outbox.c.payload).where(condition).order_by(outbox.c.id)
        return await self._changes(query.limit(limit))

    async def replay(self, after: int, upto: int, topic: Topic, limit: int) -> list[Change]:
        query = select(outbox.c.id, outbox.c.payload).where(
            outbox.c.id > after, outbox.c.id <= upto
        )
        if topic.order_id is not None:
            query = query.where(outbox.c.order_id == topic.order_id)
        restaurants = {topic.restaurant_id, topic.ownership.restaurant_id} - {None}
        for restaurant in restaurants:  # ownership in the query, as on every read
            query = query.where(restaurant_of_row == restaurant)
        if topic.ownership.customer_id is not None:
            query = query.where(_ORDER["customerId"].astext == topic.ownership.customer_id)
        return await self._changes(query.order_by(outbox.c.id).limit(limit))

    async def _changes(self, query: Any) -> list[Change]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Change.from_row(row.id, row.payload) for row in rows]

    @asynccontextmanager
    async def listen(
        self, wake: Callable[[], None], lost: Callable[[], None]
    ) -> AsyncIterator[int]:
        conn = await self._engine.connect()
        driver: Any = None

        def on_notify(*_: Any) -> None:
            wake()

        def on_terminated(*_: Any) -> None:
            lost()

        try:
            driver = (await conn.get_raw_connection()).driver_connection
            driver.add_termination_listener(on_terminated)
            await driver.add_listener(self._channel, on_notify)
            yield int(driver.get_server_pid())
        finally:
            await _release(conn, driver, self._channel, on_notify, on_terminated)


async def _release(
    conn: Any, driver: Any, channel: str, on_notify: Any, on_terminated: Any
) -> None:
    """UNLISTEN before the connection goes back to the pool; a dead one is thrown away."""
    if driver is not None:
        driver.remove_termination_listener(on_terminated)
    if driver is not None and not driver.is_closed():
        with contextlib.suppress(Exception):
            await driver.remove_listener(channel, on_notify)
    else:
        with contextlib.suppress(Exception):
            await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
