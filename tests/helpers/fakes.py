"""In-memory twins of the ports, for unit tests without sockets.

`FakeUnitOfWork` is the write side; the read-side fakes read what it committed, as their
PostgreSQL twins read what `PostgresUnitOfWork` committed: `FakeOrderQueries` its rows,
`FakeEventLog` and `FakeChangeFeed` its outbox. Each is held to its twin by a contract test:
tests/integration/test_unit_of_work_contract.py, test_read_ports_contract.py and
test_change_feed_contract.py.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.events import Envelope, Event
from orderline.domain.order import Order
from orderline.live.changes import Change, Topic
from orderline.live.ports import Released
from orderline.readmodel.ports import OrderFilters, OrderPage, Position
from orderline.service_layer.unit_of_work import OrderRepository, StoredResponse, UnitOfWork

Document = dict[str, Any]


class FakeRepository(OrderRepository):
    def __init__(self, rows: dict[UUID, Order]) -> None:
        super().__init__()
        self._rows = rows

    async def _add(self, order: Order) -> None:
        self._store(order)

    async def _get(self, order_id: UUID, ownership: Ownership) -> Order | None:
        order = self._rows.get(order_id)
        if order is None or order.deleted_at is not None:
            return None
        if not ownership.admits(order.snapshot()):
            return None
        return copy.deepcopy(order)

    async def save(self, order: Order) -> None:
        self._store(order)

    def _store(self, order: Order) -> None:
        stored = copy.deepcopy(order)
        stored.events = []  # events live in the outbox, not with the row
        self._rows[order.id] = stored


class FakeOutbox:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    async def append(self, events: list[Event]) -> None:
        self.pending.extend(event.envelope() for event in events)


class FakeIdempotency:
    def __init__(self, stored: dict[tuple[str, str], StoredResponse]) -> None:
        self.stored = stored
        self.claimed: dict[tuple[str, str], str] = {}

    async def claim(self, principal: str, key: str, request_hash: str) -> StoredResponse | None:
        if (principal, key) in self.stored:
            return self.stored[principal, key]
        self.claimed[principal, key] = request_hash
        return None

    async def record(
        self, principal: str, key: str, status_code: int, body: dict[str, Any]
    ) -> None:
        self.claimed_response = StoredResponse(self.claimed[principal, key], status_code, body)


class FakeUnitOfWork(UnitOfWork):
    """Keeps committed state across transactions; discards what a transaction did not commit.
    `published` is the outbox (envelopes in commit order), `written_by` the transaction (commit
    number, from 1) of each; each commit calls `on_commit`'s callbacks, as PostgreSQL's NOTIFY
    wakes its listeners."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[UUID, Order] = {}
        self.published: list[dict[str, Any]] = []
        self.written_by: list[int] = []
        self.responses: dict[tuple[str, str], StoredResponse] = {}
        self.commits = 0
        self.on_commit: list[Callable[[], None]] = []

    async def _begin(self) -> None:
        self._snapshot = copy.deepcopy(self.rows)
        self.orders = FakeRepository(self._snapshot)
        self.outbox = FakeOutbox()
        self.idempotency = FakeIdempotency(self.responses)

    async def _commit(self) -> None:
        self.rows = self._snapshot
        assert isinstance(self.outbox, FakeOutbox)
        self.published.extend(self.outbox.pending)
        self.written_by.extend([self.commits + 1] * len(self.outbox.pending))
        idempotency = self.idempotency
        assert isinstance(idempotency, FakeIdempotency)
        for key in idempotency.claimed:
            self.responses[key] = idempotency.claimed_response
        self.commits += 1
        for notify in list(self.on_commit):
            notify()

    async def _close(self) -> None:
        pass


def _batches(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class FakeOrderQueries:
    """`OrderQueries` on the orders a FakeUnitOfWork committed."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def _orders(self, *, include_deleted: bool) -> list[Order]:
        orders = self._uow.rows.values()
        return [order for order in orders if include_deleted or order.deleted_at is None]

    async def ping(self) -> None:
        return None

    async def get(self, order_id: UUID, *, include_deleted: bool = False) -> Document | None:
        order = self._uow.rows.get(order_id)
        if order is None or (order.deleted_at is not None and not include_deleted):
            return None
        return order.snapshot()

    async def get_many(self, order_ids: list[UUID]) -> list[Document]:
        live = {order.id: order for order in self._orders(include_deleted=False)}
        return [
            live[order_id].snapshot() for order_id in dict.fromkeys(order_ids) if order_id in live
        ]

    async def scan(self, *, batch_size: int = 100) -> AsyncIterator[list[Document]]:
        ordered = sorted(self._orders(include_deleted=True), key=lambda order: order.id)
        for batch in _batches(ordered, batch_size):
            yield [order.snapshot() for order in batch]

    async def recent(self, limit: int, *, batch_size: int = 1000) -> AsyncIterator[list[Document]]:
        live = self._orders(include_deleted=False)
        newest = sorted(live, key=lambda order: (order.updated_at, order.id), reverse=True)
        for batch in _batches(newest[:limit], batch_size):
            yield [order.snapshot() for order in batch]

    async def page(
        self,
        filters: OrderFilters,
        *,
        limit: int,
        after: Position | None = None,
        ownership: Ownership = EVERYTHING,
    ) -> OrderPage:
        wanted = [
            order
            for order in self._orders(include_deleted=False)
            if ownership.admits(order.snapshot())
            and filters.customer_id in (None, order.customer_id)
            and filters.restaurant_id in (None, order.restaurant_id)
            and filters.status in (None, order.status.value)
            and (after is None or (order.created_at, order.id) < (after.created_at, after.order_id))
        ]
        wanted.sort(key=lambda order: (order.created_at, order.id), reverse=True)
        documents = [order.snapshot() for order in wanted[:limit]]
        if len(wanted) <= limit:
            return OrderPage(documents, None)
        last = wanted[limit - 1]
        return OrderPage(documents, Position(last.created_at, last.id))


class FakeEventLog:
    """`EventLog` on the outbox of a FakeUnitOfWork (its `published` envelopes)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def events_of(
        self, order_id: UUID, *, before_version: int | None, limit: int
    ) -> list[Envelope]:
        mine = [
            envelope
            for envelope in self._uow.published
            if envelope["orderId"] == str(order_id)
            and (before_version is None or envelope["version"] < before_version)
        ]
        return sorted(mine, key=lambda envelope: envelope["version"], reverse=True)[:limit]

    async def scan(self, *, batch_size: int = 500) -> AsyncIterator[list[Envelope]]:
        for batch in _batches(list(self._uow.published), batch_size):
            yield batch

    async def count(self) -> int:
        return len(self._uow.published)


class FakeChangeFeed:
    """Live tracking's `ChangeFeed` on the outbox of a FakeUnitOfWork: row n of `published` has
    outbox id n (from 1) and its commit number as xid. Transactions here commit one at a time,
    so every committed row is released at once (nothing ever `waiting`). A listener is woken by
    each commit; `terminate(pid)` drops its connection, as `pg_terminate_backend` does (its
    `lost` is called, no more wakes)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._pids = itertools.count(1)
        self._listeners: dict[int, tuple[Callable[[], None], Callable[[], None]]] = {}

    def _rows(self) -> list[Change]:
        rows = zip(self._uow.written_by, self._uow.published, strict=True)
        return [Change.from_row(xid, n, envelope) for n, (xid, envelope) in enumerate(rows, 1)]

    async def head(self) -> int:
        rows = self._rows()
        return rows[-1].position if rows else 0

    async def since(self, after: int, limit: int) -> Released:
        return Released([row for row in self._rows() if row.position > after][:limit], False)

    async def replay(self, after: int, upto: int, topic: Topic, limit: int) -> list[Change]:
        rows = self._rows()
        return [row for row in rows if after < row.position <= upto and topic.admits(row)][:limit]

    @asynccontextmanager
    async def listen(
        self, wake: Callable[[], None], lost: Callable[[], None]
    ) -> AsyncIterator[int]:
        pid = next(self._pids)
        self._listeners[pid] = (wake, lost)
        self._uow.on_commit.append(wake)
        try:
            yield pid
        finally:
            self._forget(pid)

    def terminate(self, pid: int) -> None:
        """The listening connection `pid` dies: its `lost` is called, its wakes stop."""
        listener = self._listeners.get(pid)
        self._forget(pid)
        if listener is not None:
            listener[1]()

    def _forget(self, pid: int) -> None:
        listener = self._listeners.pop(pid, None)
        if listener is not None and listener[0] in self._uow.on_commit:
            self._uow.on_commit.remove(listener[0])
