"""The read side's one entry point: a thin facade over the query families.

Reads go cache -> DynamoDB -> PostgreSQL and say which tier answered (`tiers.py`); each family
lives in its own module: `reads` (one order), `batch_status`, `history`, `listings`,
`counters`. DynamoDB being down never fails a status, details, batch or history read;
listings and counters exist only in DynamoDB and raise ReadModelUnavailable instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Document

from . import documents as docs
from .batch_status import BatchRead, BatchStatus
from .cache import ReadCache
from .counters import StatusCounts
from .history import History, HistoryPage
from .listings import ListingPage, Listings
from .ports import EventLog, OrderQueries
from .reads import Read, SingleReads
from .routing import TableRouter
from .tiers import ReadModelUnavailable, Tiers

__all__ = ["BatchRead", "HistoryPage", "ListingPage", "OrderViews", "Read", "ReadModelUnavailable"]


class OrderViews:
    def __init__(
        self,
        orders: OrderQueries,
        client: DynamoDBClient | None,
        prefix: str,
        cache: ReadCache[Document],
        *,
        events: EventLog | None = None,
        expiry: docs.Expiry | None = None,
        shards: int = 4,
        enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        counts_cache: ReadCache[Document] | None = None,
        router: TableRouter | None = None,
    ) -> None:
        """`enabled=False` sends every read to PostgreSQL (no cache, no DynamoDB)."""
        self.tiers = Tiers(
            orders=orders,
            client=client if enabled else None,
            tables=ReadModelTables.under(prefix),
            cache=cache if enabled else ReadCache(0, 0, 0),
            expiry=expiry or docs.Expiry(),
            clock=clock,
            router=router,
        )
        counts = StatusCounts(
            self.tiers, counts_cache if counts_cache is not None else ReadCache(0, 0, 0), shards
        )
        # each query family answers for itself; the facade only names them in one place
        self.read = SingleReads(self.tiers).read
        self.statuses = BatchStatus(self.tiers).read
        self.history = History(self.tiers, events).page
        self.by_party = Listings(self.tiers).by_party
        self.status_counts = counts.read
        self.status_counts_cost = counts.cost
        self.counts_changed = counts.changed
        self.observe = self.tiers.observe
        self.warm = self.tiers.warm

    async def history_of(
        self,
        order_id: UUID,
        *,
        limit: int,
        before: int | None = None,
        ownership: Ownership = EVERYTHING,
    ) -> HistoryPage | None:
        """The history of an order `ownership` admits (None: unknown, or another's order)."""
        if not ownership.everything:
            owned = await self.read("status", order_id, None, ownership)
            if owned.document is None:
                return None
        return await self.history(order_id, limit=limit, before=before)

    async def status(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self.read("status", order_id, min_version)

    async def details(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self.read("details", order_id, min_version)
