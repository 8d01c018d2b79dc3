"""In-memory unit of work for testing handlers without sockets."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

from orderline.domain.access import Ownership
from orderline.domain.events import Event
from orderline.domain.order import Order
from orderline.service_layer.unit_of_work import OrderRepository, StoredResponse, UnitOfWork


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
    def __init__(self, stored: dict[str, StoredResponse]) -> None:
        self.stored = stored
        self.claimed: dict[str, str] = {}

    async def claim(self, key: str, request_hash: str) -> StoredResponse | None:
        if key in self.stored:
            return self.stored[key]
        self.claimed[key] = request_hash
        return None

    async def record(self, key: str, status_code: int, body: dict[str, Any]) -> None:
        self.claimed_response = StoredResponse(self.claimed[key], status_code, body)


class FakeUnitOfWork(UnitOfWork):
    """Keeps committed state across transactions; discards what a transaction did not commit."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[UUID, Order] = {}
        self.published: list[dict[str, Any]] = []
        self.responses: dict[str, StoredResponse] = {}
        self.commits = 0

    async def _begin(self) -> None:
        self._snapshot = copy.deepcopy(self.rows)
        self.orders = FakeRepository(self._snapshot)
        self.outbox = FakeOutbox()
        self.idempotency = FakeIdempotency(self.responses)

    async def _commit(self) -> None:
        self.rows = self._snapshot
        assert isinstance(self.outbox, FakeOutbox)
        self.published.extend(self.outbox.pending)
        idempotency = self.idempotency
        assert isinstance(idempotency, FakeIdempotency)
        for key in idempotency.claimed:
            self.responses[key] = idempotency.claimed_response
        self.commits += 1

    async def _close(self) -> None:
        pass
