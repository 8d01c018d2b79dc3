"""Rebuild and drift: replay the outbox into the read model; compare it with PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.order import Document

from . import documents as docs
from .ports import EventLog, OrderQueries
from .projector import Projector


@dataclass
class ReplayResult:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0


class ReadModelBusy(Exception):
    """DynamoDB kept keys unprocessed past the retries: nothing can be concluded; run again."""


async def replay(
    events: EventLog,
    projector: Projector,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 500,
) -> ReplayResult:
    """Project every event in the outbox, oldest first (duplicates are no-ops)."""
    result = ReplayResult()
    async for batch in events.scan(batch_size=batch_size):
        projected = await projector.project(batch)
        result.events += len(batch)
        result.applied += projected.applied
        result.duplicates += projected.duplicates
        result.rejected += len(projected.rejected)
        if progress is not None:
            progress(len(batch))
    return result


@dataclass(frozen=True)
class Drift:
    order_id: str
    table: str  # status or details
    kind: str  # missing, stale, ahead, differs, resurrected, deleted
    detail: str


@dataclass
class ReconcileReport:
    orders: int = 0
    drifts: list[Drift] = field(default_factory=list)
    repaired: int = 0

    @property
    def by_kind(self) -> dict[str, int]:
        return dict(Counter(f"{drift.table}:{drift.kind}" for drift in self.drifts))


class Reconciler:
    """Compares every order in PostgreSQL with `order-status` and `order-details`."""

    def __init__(
        self,
        orders: OrderQueries,
        client: DynamoDBClient,
        prefix: str,
        expiry: docs.Expiry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._orders = orders
        self._client = client
        tables = ReadModelTables.under(prefix)
        self._tables = {"status": tables.status, "details": tables.details}
        self._expiry = expiry
        self._clock = clock

    async def run(
        self, *, repair: bool, progress: Callable[[int], None] | None = None
    ) -> ReconcileReport:
        report = ReconcileReport()
        async for documents in self._orders.scan(batch_size=read_side_calls.BATCH_GET_LIMIT):
            report.orders += len(documents)
            if progress is not None:
                progress(len(documents))
            ids = [document["id"] for document in documents]
            stored = await asyncio.gather(
                *(self._batch_get(table, ids) for table in ("status", "details"))
            )
            for table, items in zip(("status", "details"), stored, strict=True):
                for document in documents:
                    drift = self._compare(table, document, items.get(document["id"]))
                    if drift is None:
                        continue
                    report.drifts.append(drift)
                    if repair:
                        await self._repair(table, document)
                        report.repaired += 1
        return report

    def _compare(self, table: str, document: Document, item: Document | None) -> Drift | None:
        order_id, version = document["id"], int(document["version"])
        live = docs.is_live(item, self._clock())
        if document.get("deletedAt"):
            if live and item is not None and not docs.is_tombstone(item):
                return Drift(
                    order_id, table, "resurrected", "deleted in PostgreSQL, live in DynamoDB"
                )
            return None
        if item is None or not live:
            return Drift(order_id, table, "missing", f"PostgreSQL has version {version}")
        if docs.is_tombstone(item):
            return Drift(order_id, table, "deleted", "tombstone for an order that is not deleted")
        found = int(item["version"])
        if found != version:
            kind = "stale" if found < version else "ahead"
            return Drift(order_id, table, kind, f"version {found}, PostgreSQL has {version}")
        expected = docs.status_view(document) if table == "status" else document
        actual = docs.status_from_item(item) if table == "status" else docs.details_from_item(item)
        if actual != expected:
            fields = sorted(name for name in expected if expected.get(name) != actual.get(name))
            return Drift(order_id, table, "differs", f"fields {', '.join(fields)}")
        return None

    async def _repair(self, table: str, document: Document) -> None:
        """Overwrite with what PostgreSQL holds (unconditionally: PostgreSQL is the truth)."""
        ttl = self._expiry.status_ttl(self._clock())
        if document.get("deletedAt"):
            item = docs.tombstone(document["id"], document["version"], document["deletedAt"], ttl)
        elif table == "status":
            item = docs.status_item(document, ttl)
        else:
            item = docs.details_item(document, ttl)
        await read_side_calls.put_item(self._client, self._tables[table], item)

    async def _batch_get(self, table: str, ids: list[str]) -> dict[str, Document]:
        """The items of `ids`; an unprocessed key would read as drift, so it stops the run."""
        got = await read_side_calls.batch_get(self._client, self._tables[table], ids)
        if got.unprocessed:
            raise ReadModelBusy(
                f"DynamoDB left {len(got.unprocessed)} keys of {self._tables[table]} unprocessed "
                f"after {read_side_calls.UNPROCESSED_RETRIES} retries (throttled?); run again"
            )
        return got.items
