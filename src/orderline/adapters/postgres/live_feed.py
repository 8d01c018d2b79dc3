"""The outbox as live tracking's change feed (`live.ports.ChangeFeed`), and its LISTEN."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Text,
    case,
    cast,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderline.live.changes import Change, Topic, position_of, split_position
from orderline.live.ports import Released

from .outbox import NEVER_APPENDS_LOCK
from .tables import Xid8, outbox

_ORDER = outbox.c.payload["payload"]["order"]
# The oldest transaction still open that may yet append outbox rows: every transaction with a
# smaller id has ended (its rows are visible now, or never will be) or cannot append: it promised
# not to (it holds NEVER_APPENDS_LOCK: the relay, whose batches hold a transaction id while it
# publishes), or it runs in another database of the cluster (a virtual transaction id belongs to
# one session, so one lock it holds elsewhere places it). This is `pg_snapshot_xmin` of the
# statement's snapshot without those: one read of pg_locks pairs each open transaction id with
# its virtual transaction; an id seen without a promise or another database, or not seen at all,
# is waited for, so no late commit is ever skipped.
_HORIZON = literal_column(
    f"""(WITH locks AS MATERIALIZED (
    SELECT locktype, database, virtualtransaction, transactionid, classid, objid, objsubid, mode
    FROM pg_locks WHERE granted),
here AS (SELECT oid FROM pg_database WHERE datname = current_database()),
cannot_append AS (
    SELECT virtualtransaction FROM locks
    WHERE database IS NOT NULL AND database <> 0 AND database <> (SELECT oid FROM here)
    UNION ALL
    SELECT virtualtransaction FROM locks
    WHERE locktype = 'advisory' AND classid = 0 AND objid = {NEVER_APPENDS_LOCK}
        AND objsubid = 1),
never_appends AS (
    SELECT transactionid FROM locks
    WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock'
        AND virtualtransaction IN (SELECT virtualtransaction FROM cannot_append))
SELECT coalesce(min(open.x), pg_snapshot_xmax(pg_current_snapshot()))
FROM pg_snapshot_xip(pg_current_snapshot()) AS open(x)
WHERE NOT EXISTS (SELECT FROM never_appends n WHERE n.transactionid = open.x::xid))""",
    Xid8(),
)
_IN_ORDER = (outbox.c.xid, outbox.c.id)


def _after(position: int) -> ColumnElement[bool]:
    xid, outbox_id = split_position(position)
    return tuple_(*_IN_ORDER) > tuple_(cast(literal(str(xid)), Xid8()), literal(outbox_id))


def _upto(position: int) -> ColumnElement[bool]:
    xid, outbox_id = split_position(position)
    return tuple_(*_IN_ORDER) <= tuple_(cast(literal(str(xid)), Xid8()), literal(outbox_id))


# An outbox row's restaurant, written exactly as the index outbox_by_restaurant (migration 0006)
# declares it, so a restaurant stream's replay reads by index instead of filtering every row.
restaurant_of_row = literal_column(
    "(outbox.payload -> 'payload' -> 'order' ->> 'restaurantId')", String
)


class PostgresChangeFeed:
    """Releases a row only once its transaction is older than every transaction still open
    that may append (`_HORIZON`), in (xid, id) order: a rolled-back transaction holds nothing
    back, and a late commit is never behind a released position.

    While it LISTENs, `since` reads on the listening connection (in autocommit: no transaction
    left open), so the hub never waits for the pool that the write path may have exhausted."""

    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self._engine = engine
        self._channel = channel
        self._listening: AsyncConnection | None = None
        self._reading = asyncio.Lock()  # one query at a time on the listening connection

    async def head(self) -> int:
        query = (
            select(cast(outbox.c.xid, Text).label("xid"), outbox.c.id)
            .where(outbox.c.xid < _HORIZON)
            .order_by(outbox.c.xid.desc(), outbox.c.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            last = (await conn.execute(query)).first()
        return 0 if last is None else position_of(int(last.xid), last.id)

    async def since(self, after: int, limit: int) -> Released:
        # Released rows come first in (xid, id) order; a row still held back (payload NULL)
        # after them says that committed rows wait for an older open transaction.
        released = outbox.c.xid < _HORIZON
        query = (
            select(
                cast(outbox.c.xid, Text).label("xid"),
                outbox.c.id,
                case((released, outbox.c.payload)).label("payload"),
            )
            .where(_after(after))
            .order_by(*_IN_ORDER)
            .limit(limit)
        )
        rows = await self._read(query)
        changes = [_change(row) for row in rows if row.payload is not None]
        held = tuple(position_of(int(row.xid), row.id) for row in rows if row.payload is None)
        return Released(changes, waiting=bool(held), held=held)

    async def _read(self, query: Select[Any]) -> Sequence[Row[Any]]:
        own = self._listening
        rows: Sequence[Row[Any]]
        if own is None:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            return rows
        async with self._reading:
            rows = (await own.execute(query)).all()
        return rows

    async def replay(self, after: int, upto: int, topic: Topic, limit: int) -> list[Change]:
        query = select(cast(outbox.c.xid, Text).label("xid"), outbox.c.id, outbox.c.payload)
        query = query.where(_after(after), _upto(upto))
        if topic.order_id is not None:
            query = query.where(outbox.c.order_id == topic.order_id)
        restaurants = {topic.restaurant_id, topic.ownership.restaurant_id} - {None}
        for restaurant in restaurants:  # ownership in the query, as on every read
            query = query.where(restaurant_of_row == restaurant)
        if topic.ownership.customer_id is not None:
            query = query.where(_ORDER["customerId"].astext == topic.ownership.customer_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(*_IN_ORDER).limit(limit))).all()
        return [_change(row) for row in rows]

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
            self._listening = await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield int(driver.get_server_pid())
        finally:
            self._listening = None
            await _release(conn, driver, self._channel, on_notify, on_terminated)


def _change(row: Any) -> Change:
    return Change.from_row(int(row.xid), row.id, row.payload)


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
