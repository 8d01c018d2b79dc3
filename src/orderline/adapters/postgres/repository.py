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
from .driver import Driver, Prepared, as_json
from .tables import idempotency_keys, order_items, orders, outbox

OUTBOX_FIELDS = ("event_id", "order_id", "order_version", "event_type", "payload", "attempts")


class ConcurrentModification(RuntimeError):
    """The row changed under a lock we held: a bug, not a user error."""


# Statements on the write path are built once: SQLAlchemy then compiles each once and reuses it
# (a statement built per call costs its construction and cache-key work on every request). A
# status change is BEGIN, LOCK_ORDER (the row and its items), UPDATE_AND_APPEND (the update,
# the outbox row and its NOTIFY) and COMMIT: four round trips.
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
# A status change's UPDATE goes with its outbox row and NOTIFY in one statement: four round trips.
_UPDATED = UPDATE_ORDER.returning(orders.c.id).cte("updated")
UPDATE_AND_APPEND = (
    select(NOTIFY.selected_columns[0], select(func.count()).select_from(_UPDATED).scalar_subquery())
    .add_cte(_UPDATED)
    .add_cte(insert(outbox).values(_OUTBOX_ROW).cte("appended"))
)
# ... all sent to asyncpg directly (driver.py): SQLAlchemy's per-execution work skipped
_LOCK_ORDER, _UPDATE_ORDER, _APPEND_ONE, _UPDATE_AND_APPEND = map(
    Prepared, (LOCK_ORDER, UPDATE_ORDER, APPEND_ONE, UPDATE_AND_APPEND)
)


async def flush_update(driver: Driver | None) -> None:
    """Send the order update `save` deferred, if the outbox row did not take it along."""
    if driver is None or driver.pending_update is None:
        return
    values, driver.pending_update = driver.pending_update, None
    if await driver.execute(_UPDATE_ORDER, values) != 1:
        raise ConcurrentModification(f"order {values['order_id']} changed while locked")


async def _driver(conn: AsyncConnection, driver: Driver | None) -> Driver:
    return driver if driver is not None else await Driver.of(conn)


class PostgresOrderRepository(OrderRepository):
    def __init__(self, conn: AsyncConnection, driver: Driver | None = None) -> None:
        super().__init__()
        self._conn = conn
        self._driver = driver
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
        self._driver = await _driver(self._conn, self._driver)
        row = await self._driver.fetchrow(_LOCK_ORDER, values)
        if row is None:
            return None
        order = mapping.to_order(row, row["items"])
        self._loaded[order.id] = (order.version, list(order.items))
        return order

    async def save(self, order: Order) -> None:
        loaded_version, loaded_items = self._loaded[order.id]
        values = mapping.order_row(order)
        del values["id"]
        values |= {"order_id": order.id, "loaded_version": loaded_version}
        driver = self._driver = await _driver(self._conn, self._driver)
        await flush_update(driver)  # another order's
        if order.items == loaded_items:  # sent with the outbox row (or at commit at the latest)
            driver.pending_update = values
        else:
            if await driver.execute(_UPDATE_ORDER, values) != 1:
                raise ConcurrentModification(f"order {order.id} changed while locked")
            await self._conn.execute(delete(order_items).where(order_items.c.order_id == order.id))
            await self._conn.execute(insert(order_items), mapping.item_rows(order))
        self._loaded[order.id] = (order.version, list(order.items))


class PostgresOutbox:
    def __init__(
        self,
        conn: AsyncConnection,
        notify_channel: str,
        hold: timedelta = timedelta(0),
        driver: Driver | None = None,
    ) -> None:
        self._conn = conn
        self._driver = driver
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
        driver = self._driver = await _driver(self._conn, self._driver)
        if len(rows) == 1:
            row = {**rows[0], "payload": as_json(rows[0]["payload"]), "channel": self._channel}
            pending = driver.pending_update
            if pending is not None and pending["order_id"] == row["order_id"]:
                driver.pending_update = None
                _, updated = await driver.fetchrow(_UPDATE_AND_APPEND, pending | row)
                if updated != 1:
                    raise ConcurrentModification(f"order {row['order_id']} changed while locked")
                return
            await flush_update(driver)
            await driver.fetchval(_APPEND_ONE, row)
            return
        await flush_update(driver)
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
