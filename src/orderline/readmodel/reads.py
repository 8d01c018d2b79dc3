"""Single reads: one order's status or details, from the first tier that has it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from orderline import metrics
from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Document

from . import documents as docs
from .cache import MISSING
from .tiers import Source, Tiers, View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Read:
    document: Document | None
    source: Source


class SingleReads:
    def __init__(self, tiers: Tiers) -> None:
        self._tiers = tiers

    async def read(
        self,
        view: View,
        order_id: UUID,
        min_version: int | None = None,
        ownership: Ownership = EVERYTHING,
    ) -> Read:
        """Cache, then DynamoDB (consistent with `min_version`), then PostgreSQL; an order
        `ownership` does not admit reads as missing, whichever tier answers."""
        cache = self._tiers.cache
        key = (view, str(order_id))
        cached = cache.get(key)
        if cached is not MISSING and _satisfies(cached, min_version):
            metrics.READS.labels(view, "cache", "hit").inc()
            return _visible(cached, "cache", ownership)
        if cache.enabled:
            metrics.READS.labels(view, "cache", "miss").inc()
        if min_version is None:
            document, source = await cache.single_flight(
                key, lambda: self._load(view, order_id, None)
            )
            return _visible(document, source, ownership)
        document, source = await self._load(view, order_id, min_version)
        return _visible(document, source, ownership)

    async def _load(
        self, view: View, order_id: UUID, min_version: int | None
    ) -> tuple[Document | None, Source]:
        tiers = self._tiers
        reason, held = "unavailable", 0
        if tiers.client is not None:
            try:
                item = await read_side_calls.get_item(
                    tiers.client,
                    tiers.table_of(view),
                    "orderId",
                    str(order_id),
                    consistent=min_version is not None,
                )
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.debug("DynamoDB read failed: %s", exc)
            else:
                found, reason = tiers.from_dynamodb(view, item, min_version)
                if reason == "hit":
                    return found, "dynamodb"
                if reason == "min_version" and item is not None:
                    held = int(item["version"])  # DynamoDB's version, below min_version
            metrics.READS.labels(view, "dynamodb", "miss").inc()
        metrics.READ_FALLBACKS.labels(view, reason).inc()
        return await self._from_postgres(view, order_id, fill=reason != "unavailable", held=held)

    async def _from_postgres(
        self, view: View, order_id: UUID, *, fill: bool, held: int = 0
    ) -> tuple[Document | None, Source]:
        """PostgreSQL's answer; DynamoDB is filled only when it holds a version older than
        PostgreSQL's (`held`), so a `minVersion` no order has reached writes nothing."""
        tiers = self._tiers
        document = await tiers.orders.get(order_id)
        metrics.READS.labels(view, "postgres", "hit" if document else "miss").inc()
        if document is None:
            tiers.cache.put((view, str(order_id)), None)
            return None, "postgres"
        tiers.remember(document)
        if fill and held < int(document["version"]):
            await tiers.fill([document])
        return (docs.status_view(document) if view == "status" else document), "postgres"


def _visible(document: Document | None, source: Source, ownership: Ownership) -> Read:
    """The tiers are shared by every principal (one principal's miss must not hide an order
    from its owner), so what a tier answers is checked against the caller's ownership here."""
    if document is not None and not ownership.admits(document):
        return Read(None, source)
    return Read(document, source)


def _satisfies(cached: Document | None, min_version: int | None) -> bool:
    if min_version is None:
        return True
    return cached is not None and int(cached["version"]) >= min_version
