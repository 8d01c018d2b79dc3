"""The read side's one entry point: a thin facade over the query families.

Reads go cache -> DynamoDB -> PostgreSQL and say which tier answered (`tiers.py`); each family
lives in its own module: `reads` (one order), `batch_status`, `history`, `listings`,
`counters`. DynamoDB being down never fails a status, details, batch or history read;
listings and counters exist only in DynamoDB and raise ReadModelUnavailable instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.events import Envelope

from . import documents as docs
from .batch_status import BatchRead, BatchStatus
from .cache import ReadCache
from .counters import StatusCounts
from .history import History, HistoryPage
from .listings import ListingPage, Listings, Party
from .ports import EventLog, OrderQueries
from .reads import Read, SingleReads
from .tiers import ReadModelUnavailable, Tiers, View

__all__ = ["BatchRead", "HistoryPage", "ListingPage", "OrderViews", "Read", "ReadModelUnavailable"]


class OrderViews:
    def __init__(
        self,
        orders: OrderQueries,
        client: Any | None,
        prefix: str,
        cache: ReadCache[docs.Document],
        *,
        events: EventLog | None = None,
        expiry: docs.Expiry | None = None,
        shards: int = 4,
        enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        counts_cache: ReadCache[docs.Document] | None = None,
    ) -> None:
        """`enabled=False` sends every read to PostgreSQL (no cache, no DynamoDB)."""
        self.tiers = Tiers(
            orders=orders,
            client=client if enabled else None,
            tables=ReadModelTables.under(prefix),
            cache=cache if enabled else ReadCache(0, 0, 0),
            expiry=expiry or docs.Expiry(),
            clock=clock,
        )
        self._reads = SingleReads(self.tiers)
        self._batch = BatchStatus(self.tiers)
        self._history = History(self.tiers, events)
        self._listings = Listings(self.tiers)
        counts = counts_cache if counts_cache is not None else ReadCache(0, 0, 0)
        self._counts = StatusCounts(self.tiers, counts, shards)

    async def read(self, view: View, order_id: UUID, min_version: int | None = None) -> Read:
        return await self._reads.read(view, order_id, min_version)

    async def status(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self.read("status", order_id, min_version)

    async def details(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self.read("details", order_id, min_version)

    async def statuses(self, order_ids: Sequence[UUID]) -> BatchRead:
        return await self._batch.read(order_ids)

    async def history(
        self, order_id: UUID, *, limit: int, before: int | None = None
    ) -> HistoryPage | None:
        return await self._history.page(order_id, limit=limit, before=before)

    async def by_party(
        self,
        party: Party,
        party_id: str,
        *,
        limit: int,
        status: str | None = None,
        after: dict[str, str] | None = None,
    ) -> ListingPage:
        return await self._listings.by_party(
            party, party_id, limit=limit, status=status, after=after
        )

    async def status_counts(self, start: datetime, end: datetime) -> docs.Document:
        return await self._counts.read(start, end)

    def counts_changed(self) -> None:
        self._counts.changed()

    def observe(self, envelopes: Sequence[Envelope]) -> None:
        self.tiers.observe(envelopes)

    async def warm(self, orders: int) -> int:
        return await self.tiers.warm(orders)
