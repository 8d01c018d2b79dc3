"""The unit of work: the only thing that commits; it writes the outbox in the same transaction."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.events import Event
from orderline.domain.order import Order


class OrderRepository(abc.ABC):
    """Loads and stores Order aggregates; remembers every aggregate it handed out."""

    def __init__(self) -> None:
        self.seen: list[Order] = []

    async def add(self, order: Order) -> None:
        await self._add(order)
        self.seen.append(order)

    async def get(self, order_id: UUID, ownership: Ownership = EVERYTHING) -> Order | None:
        """The live (not deleted) order, if `ownership` admits it, locked until commit."""
        order = await self._get(order_id, ownership)
        if order is not None:
            self.seen.append(order)
        return order

    @abc.abstractmethod
    async def _add(self, order: Order) -> None: ...

    @abc.abstractmethod
    async def _get(self, order_id: UUID, ownership: Ownership) -> Order | None: ...

    @abc.abstractmethod
    async def save(self, order: Order) -> None:
        """Persist the changes made to an order obtained from `get`."""


class Outbox(Protocol):
    async def append(self, events: list[Event]) -> None: ...


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: dict[str, Any]


class IdempotencyStore(Protocol):
    """Idempotency keys, each one principal's own: another principal's same key is unrelated."""

    async def claim(self, principal: str, key: str, request_hash: str) -> StoredResponse | None:
        """Take the principal's key for this transaction, or return the response recorded
        under it."""
        ...

    async def record(
        self, principal: str, key: str, status_code: int, body: dict[str, Any]
    ) -> None: ...


class UnitOfWork(abc.ABC):
    orders: OrderRepository
    outbox: Outbox
    idempotency: IdempotencyStore

    def __init__(self) -> None:
        self.committed_events: list[Event] = []
        """The events the latest transaction committed (for after-commit hooks)."""

    async def __aenter__(self) -> Self:
        self.committed_events = []
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def commit(self) -> None:
        """Write the pending events of every touched order to the outbox, then commit once."""
        events = [event for order in self.orders.seen for event in order.events]
        if events:
            await self.outbox.append(events)
        await self._commit()
        for order in self.orders.seen:
            order.events.clear()
        self.committed_events.extend(events)

    @abc.abstractmethod
    async def _begin(self) -> None: ...

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None:
        """End the transaction, rolling back whatever was not committed."""
