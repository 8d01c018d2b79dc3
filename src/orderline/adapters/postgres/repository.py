"""PostgreSQL implementation of the order repository, outbox and idempotency store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Interval, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orderline.domain.events import Event
from orderline.domain.order import Order
from orderline.service_layer.unit_of_work import OrderRepository, StoredResponse

from . import mapping
from .tables import idempotency_keys, order_items, orders, outbox


class ConcurrentModification(RuntimeError):
    """The row changed under a lock we held: a bug, not a user error."""


# Statements on the write path are built once: SQLAlchemy then compiles each once and reuses it
# (a statement built per call costs its construction and cache-key work on every request).
LOCK_ORDER = (
    select(orders)
    .where(orders.c.id == bindparam("order_id"), orders.c.deleted_at.is_(None))
    .with_for_update()
)
ORDER_ITEMS = select(order_items).where(order_items.c.order_id == bindparam("order_id"))
UPDATE_ORDER = (
    update(orders)
    .where(orders.c.id == bindparam("order_id"), orders.c.version == bindparam("loaded_version"))
    .values({column.name: bindparam(column.name) for column in orders.c if column.name != "id"})
)
APPEND_OUTBOX = insert(outbox).values(
    created_at=func.now(), available_at=func.now() + bindparam("hold", type_=Interval)
)
NOTIFY = text("SELECT pg_notify(:channel, '')")


class PostgresOrderRepository(OrderRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__()
        self._conn = conn
        self._loaded: dict[UUID, tuple[int, list[Any]]] = {}

    async def _add(self, order: Order) -> None:
        await self._conn.execute(insert(orders), [mapping.order_row(order)])
        await self._conn.execute(insert(order_items), mapping.item_rows(order))

    async def _get(self, order_id: UUID) -> Order | None:
        row = (await self._conn.execute(LOCK_ORDER, {"order_id": order_id})).mappings().first()
        if row is None:
            return None
        items = (await self._conn.execute(ORDER_ITEMS, {"order_id": order_id})).mappings().all()
        order = mapping.to_order(row, items)
        self._loaded[order.id] = (order.version, list(order.items))
        return order

    async def save(self, order: Order) -> None:
        loaded_version, loaded_items = self._loaded[order.id]
        values = mapping.order_row(order)
        del values["id"]
        result = await self._conn.execute(
            UPDATE_ORDER, {**values, "order_id": order.id, "loaded_version": loaded_version}
        )
        if result.rowcount != 1:
            raise ConcurrentModification(f"order {order.id} changed while locked")
        if order.items != loaded_items:
            await self._conn.execute(delete(order_items).where(order_items.c.order_id == order.id))
            await self._conn.execute(insert(order_items), mapping.item_rows(order))
        self._loaded[order.id] = (order.version, list(order.items))


class PostgresOutbox:
    def __init__(
        self, conn: AsyncConnection, notify_channel: str, hold: timedelta = timedelta(0)
    ) -> None:
        self._conn = conn
        self._channel = notify_channel
        self._hold = hold

    async def append(self, events: list[Event]) -> None:
        rows = [
            {
                "event_id": event.event_id,
                "order_id": event.order_id,
                "order_version": event.version,
                "event_type": event.event_type,
                "payload": event.envelope(),
                "hold": self._hold,
                "attempts": 0,
            }
            for event in events
        ]
        await self._conn.execute(APPEND_OUTBOX, rows)
        # Delivered by PostgreSQL only if, and when, the transaction commits.
        await self._conn.execute(NOTIFY, {"channel": self._channel})


class PostgresIdempotencyStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, key: str, request_hash: str) -> StoredResponse | None:
        # A concurrent claim of the same key waits here until the first transaction ends.
        claimed = await self._conn.scalar(
            pg_insert(idempotency_keys)
            .values(key=key, request_hash=request_hash, created_at=func.now())
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(idempotency_keys.c.key)
        )
        if claimed is not None:
            return None
        row = (
            (
                await self._conn.execute(
                    select(idempotency_keys).where(idempotency_keys.c.key == key)
                )
            )
            .mappings()
            .one()
        )
        return StoredResponse(row["request_hash"], row["status_code"], row["response"])

    async def record(self, key: str, status_code: int, body: dict[str, Any]) -> None:
        await self._conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key)
            .values(status_code=status_code, response=body)
        )
