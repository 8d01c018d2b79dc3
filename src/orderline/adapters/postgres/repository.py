"""PostgreSQL implementation of the order repository, outbox and idempotency store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Interval,
    String,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orderline.domain.access import Ownership
from orderline.domain.events import Event
from orderline.domain.order import Order
from orderline.service_layer.unit_of_work import OrderRepository, StoredResponse

from . import mapping
from .tables import idempotency_keys, order_items, orders, outbox

OUTBOX_FIELDS = ("event_id", "order_id", "order_version", "event_type", "payload", "attempts")


class ConcurrentModification(RuntimeError):
    """The row changed under a lock we held: a bug, not a user error."""


# Statements on the write path are built once: SQLAlchemy then compiles each once and reuses it
# (a statement built per call costs its construction and cache-key work on every request). A
# status change is BEGIN, LOCK_ORDER (the row and its items), UPDATE_ORDER, APPEND_ONE (the
# outbox row and its NOTIFY) and COMMIT: five round trips.
_ITEM = func.json_build_object(
    *("position", order_items.c.position, "item_id", order_items.c.item_id),
    *("name", order_items.c.name, "quantity", order_items.c.quantity),
    *("unit_price", cast(order_items.c.unit_price, Text)),  # as text: exact, never a float
)
_ITEMS = (
    select(
        func.coalesce(
            func.json_agg(aggregate_order_by(_ITEM, order_items.c.position)),
            literal_column("'[]'::json"),
        )
    )
    .where(order_items.c.order_id == orders.c.id)
    .scalar_subquery()
)
_CUSTOMER = bindparam("customer_id", type_=String)
_RESTAURANT = bindparam("restaurant_id", type_=String)
LOCK_ORDER = (
    select(orders, type_coerce(_ITEMS, JSON).label("items"))
    .where(
        orders.c.id == bindparam("order_id"),
        orders.c.deleted_at.is_(None),
        # ownership in the query itself: another principal's order is not found
        or_(_CUSTOMER.is_(None), orders.c.customer_id == _CUSTOMER),
        or_(_RESTAURANT.is_(None), orders.c.restaurant_id == _RESTAURANT),
    )
    .with_for_update(of=orders)
)
UPDATE_ORDER = (
    update(orders)
    .where(orders.c.id == bindparam("order_id"), orders.c.version == bindparam("loaded_version"))
    .values({column.name: bindparam(column.name) for column in orders.c if column.name != "id"})
)
_OUTBOX_ROW = {
    **{name: bindparam(name, type_=outbox.c[name].type) for name in OUTBOX_FIELDS},
    "created_at": func.now(),
    "available_at": func.now() + bindparam("hold", type_=Interval),
}
APPEND_OUTBOX = insert(outbox).values(_OUTBOX_ROW)
NOTIFY = select(func.pg_notify(bindparam("channel"), ""))
APPEND_ONE = NOTIFY.add_cte(insert(outbox).values(_OUTBOX_ROW).cte("appended"))


class PostgresOrderRepository(OrderRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__()
        self._conn = conn
        self._loaded: dict[UUID, tuple[int, list[Any]]] = {}

    async def _add(self, order: Order) -> None:
        await self._conn.execute(insert(orders), [mapping.order_row(order)])
        await self._conn.execute(insert(order_items), mapping.item_rows(order))

    async def _get(self, order_id: UUID, ownership: Ownership) -> Order | None:
        values = {
            "order_id": order_id,
            "customer_id": ownership.customer_id,
            "restaurant_id": ownership.restaurant_id,
        }
        row = (await self._conn.execute(LOCK_ORDER, values)).mappings().first()
        if row is None:
            return None
        order = mapping.to_order(row, row["items"])
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
        # The NOTIFY is delivered by PostgreSQL only if, and when, the transaction commits.
        if len(rows) == 1:
            await self._conn.execute(APPEND_ONE, {**rows[0], "channel": self._channel})
            return
        await self._conn.execute(APPEND_OUTBOX, rows)
        await self._conn.execute(NOTIFY, {"channel": self._channel})


class PostgresIdempotencyStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, principal: str, key: str, request_hash: str) -> StoredResponse | None:
        # A concurrent claim of the same key waits here until the first transaction ends.
        claimed = await self._conn.scalar(
            pg_insert(idempotency_keys)
            .values(principal=principal, key=key, request_hash=request_hash, created_at=func.now())
            .on_conflict_do_nothing(index_elements=["principal", "key"])
            .returning(idempotency_keys.c.key)
        )
        if claimed is not None:
            return None
        row = (
            (
                await self._conn.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
                    )
                )
            )
            .mappings()
            .one()
        )
        return StoredResponse(row["request_hash"], row["status_code"], row["response"])

    async def record(
        self, principal: str, key: str, status_code: int, body: dict[str, Any]
    ) -> None:
        await self._conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
            .values(status_code=status_code, response=body)
        )
