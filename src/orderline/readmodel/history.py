"""History: an order's entries newest first, from `order-status-log` or else from the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from orderline import metrics
from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.keys import history_key
from orderline.domain.order import Document

from . import documents as docs
from .envelopes import InvalidEnvelope, parse
from .ports import EventLog
from .tiers import Source, Tiers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Document]
    next_before: int | None
    source: Source


class History:
    def __init__(self, tiers: Tiers, events: EventLog | None) -> None:
        self._tiers = tiers
        self._events = events

    async def page(
        self, order_id: UUID, *, limit: int, before: int | None = None
    ) -> HistoryPage | None:
        """Newest first; None when the order has no events at all (unknown id)."""
        if self._tiers.client is not None:
            try:
                page = await self._from_dynamodb(str(order_id), limit, before)
            except Exception as exc:
                if not is_transient(exc) and not _unreadable(exc):
                    raise
                reason = "unavailable" if is_transient(exc) else "unreadable"
                metrics.READ_FALLBACKS.labels("history", reason).inc()
            else:
                if page.entries or before is not None:
                    return page
                metrics.READ_FALLBACKS.labels("history", "miss").inc()
        return await self._from_outbox(order_id, limit, before)

    async def _from_dynamodb(self, order_id: str, limit: int, before: int | None) -> HistoryPage:
        condition = "orderId = :order"
        values: dict[str, Any] = {":order": {"S": order_id}}
        if before is not None:
            condition += " AND sk < :before"
            values[":before"] = {"S": history_key(before)}
        items, _ = await read_side_calls.query_page(
            self._tiers.read_model(),
            {
                "TableName": self._tiers.tables.log,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": limit + 1,
            },
        )
        now = self._tiers.clock()
        entries = [docs.history_view(item) for item in items if docs.is_live(item, now)]
        return _page(entries, limit, "dynamodb")

    async def _from_outbox(
        self, order_id: UUID, limit: int, before: int | None
    ) -> HistoryPage | None:
        if self._events is None:
            raise ValueError("history without the read model needs the event log")
        envelopes = await self._events.events_of(order_id, before_version=before, limit=limit + 1)
        entries = []
        for raw in envelopes:
            try:
                entries.append(docs.history_view(parse(raw).history_entry()))
            except InvalidEnvelope:
                continue
        if not entries and before is None:
            return None
        return _page(entries, limit, "postgres")


def _unreadable(exc: Exception) -> bool:
    """A response the client could not parse (seen from moto's server with fuzzed metadata:
    an attribute value that is not one): the outbox holds the same history, so it answers."""
    if isinstance(exc, AttributeError | TypeError | ValueError):
        log.warning("history from DynamoDB could not be parsed (%s); reading the outbox", exc)
        return True
    return False


def _page(entries: list[Document], limit: int, source: Source) -> HistoryPage:
    page = entries[:limit]
    more = len(entries) > limit
    return HistoryPage(page, page[-1]["version"] if more and page else None, source)
