"""What the read side needs from the write model (PostgreSQL), as ports.

The read side never imports a PostgreSQL adapter: bootstrap hands it objects that satisfy these
protocols (`adapters.postgres.queries.PostgresOrderQueries`, `adapters.postgres.outbox.
PostgresEventLog`), and tests may hand it fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.events import Envelope
from orderline.domain.order import Document


@dataclass(frozen=True)
class OrderFilters:
    customer_id: str | None = None
    restaurant_id: str | None = None
    status: str | None = None

    def query_key(self) -> str:
        """What a cursor is bound to: a cursor is valid only for the same filters."""
        return f"orders|{self.customer_id}|{self.restaurant_id}|{self.status}"


@dataclass(frozen=True)
class Position:
    """Where a page ends: the (created_at, id) of its last order."""

    created_at: datetime
    order_id: UUID

    def to_cursor(self) -> dict[str, str]:
        return {"t": self.created_at.isoformat(), "i": str(self.order_id)}

    @classmethod
    def from_cursor(cls, fields: dict[str, Any]) -> Position:
        """KeyError, ValueError or TypeError when the fields are not a position."""
        return cls(datetime.fromisoformat(fields["t"]), UUID(fields["i"]))


@dataclass(frozen=True)
class OrderPage:
    documents: list[Document]
    next_position: Position | None


class OrderQueries(Protocol):
    """Orders as PostgreSQL holds them, as API documents (live orders unless said otherwise)."""

    async def get(self, order_id: UUID, *, include_deleted: bool = False) -> Document | None: ...

    async def get_many(self, order_ids: list[UUID]) -> list[Document]: ...

    def recent(self, limit: int) -> AsyncIterator[list[Document]]:
        """The `limit` most recently updated live orders, newest first, a batch at a time."""
        ...

    def scan(self, *, batch_size: int = 100) -> AsyncIterator[list[Document]]:
        """Every order, deleted ones included, in id order."""
        ...

    async def page(
        self,
        filters: OrderFilters,
        *,
        limit: int,
        after: Position | None = None,
        ownership: Ownership = EVERYTHING,
    ) -> OrderPage:
        """Live orders matching `filters` among those `ownership` admits, newest first."""
        ...

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers (readiness)."""
        ...


class EventLog(Protocol):
    """The outbox read as the log of every committed event."""

    async def events_of(
        self, order_id: UUID, *, before_version: int | None, limit: int
    ) -> list[Envelope]:
        """One order's events, newest first (history when DynamoDB cannot answer)."""
        ...

    def scan(self, *, batch_size: int = 500) -> AsyncIterator[list[Envelope]]:
        """Every event, oldest first, in batches (replay)."""
        ...

    async def count(self) -> int: ...
