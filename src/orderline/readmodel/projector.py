"""Events -> DynamoDB read model: idempotent, order-insensitive, written at 1x the price.

Per batch, in this order:
1. every event's history entry is put by BatchWriteItem (`item_writes.put_all`). The same event
   always writes the same item, so a re-put changes nothing: DynamoDB emits no stream record
   for it (moto a MODIFY), and the counter aggregator counts INSERTs only.
2. then each order's newest event puts `order-status` (each table the router names) and
   `order-details`, each a conditional PutItem applied only over an older version, sent
   concurrently (at most `CONCURRENCY` calls in flight). Refused by its condition = stale,
   dropped silently.
History before the current items: a reader never sees a status version whose history entry
could not be written. A write DynamoDB refuses for good (ValidationException) rejects only
the event whose item it was, by its position; a DynamoDB outage raises, so nothing is lost.
Status and details are separate puts, so only a refusal could split them: the API's limits keep
the largest order's items under 3/4 of DynamoDB's 400 KB (tests/unit/test_item_writes.py).
No transactions: each item bills 1 write unit per KB, not 2. Counters and gauges are not
written here: they are counted from the history table's stream (`streams/counters.py`), where
each entry appears once. The projector never reads PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from orderline import metrics
from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.keys import history_key
from orderline.adapters.dynamodb.protocol import ProjectionWriter
from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.events import Envelope as EventDict  # as committed; .envelopes parses it

from . import documents as docs
from .envelopes import InvalidEnvelope, ParsedEnvelope, parse
from .item_writes import Outcome, Put, put_all, put_newer
from .routing import StaticRouter, TableRouter

log = logging.getLogger(__name__)

REMEMBERED_EVENTS = 10_000
CONCURRENCY = 16  # DynamoDB calls in flight per batch (the client pools 50 connections)


@dataclass(frozen=True)
class ProjectionResult:
    """`applied`: events that moved their order's read model (status and details to a newer
    version); `duplicates`: the others not rejected, i.e. repeated in the batch, remembered as
    applied, or no newer than what the read model holds (their history entries are put all the
    same, idempotently); `rejected`: input position -> reason."""

    applied: int = 0
    duplicates: int = 0
    rejected: dict[int, str] = field(default_factory=dict)


Observer = Callable[[Sequence[EventDict]], None]
"""Told about events once they are projected (the read side refreshes its cache)."""


class ProjectsEvents(Protocol):
    """What a bus delivers to: the projector, or a stand-in in the bus contract tests."""

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult: ...


@dataclass(frozen=True)
class _Current:
    """One conditional put of an order's current item (status in one table, or details)."""

    event: ParsedEnvelope
    table: str
    item: dict[str, Any]  # DynamoDB JSON


class Projector:
    def __init__(
        self,
        client: ProjectionWriter,
        prefix: str,
        *,
        expiry: docs.Expiry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_applied: Callable[[], None] | None = None,
        router: TableRouter | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._client = client
        self._on_applied = on_applied  # told after any batch that wrote to the tables
        self._expiry = expiry or docs.Expiry()
        self._clock = clock
        self._tables = ReadModelTables.under(prefix)
        self._concurrency = concurrency
        # which status table(s) to write: more than one during a table migration
        self._router = router or StaticRouter(self._tables.status)
        # Events this instance already saw applied (write-through, then the relay): skipped
        # without a DynamoDB call. Only an optimisation; the conditions stay the guarantee.
        self._applied: OrderedDict[str, None] = OrderedDict()

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult:
        """Apply a batch. Invalid events are rejected by position; DynamoDB outages raise."""
        await self._router.refresh_if_stale()
        rejected, positions, events = self._fresh(raw_envelopes)
        moved, failed = await self._write(events) if events else (set(), {})
        rejected.update({positions[event_id]: reason for event_id, reason in failed.items()})
        applied = [e for e in events if e.order_id in moved and e.event_id not in failed]
        self._remember(e.event_id for e in events if e.event_id not in failed)
        self._observe_lag(applied)
        duplicates = len(raw_envelopes) - len(rejected) - len(applied)
        metrics.PROJECTED_EVENTS.labels("applied").inc(len(applied))
        metrics.PROJECTED_EVENTS.labels("duplicate").inc(duplicates)
        if len(failed) < len(events) and self._on_applied is not None:
            self._on_applied()
        return ProjectionResult(len(applied), duplicates, rejected)

    def _fresh(
        self, raw_envelopes: Sequence[Any]
    ) -> tuple[dict[int, str], dict[str, int], list[ParsedEnvelope]]:
        """The batch parsed: invalid envelopes by position, and the events to write with their
        positions (not repeated in the batch, not remembered as applied; one per history key)."""
        rejected: dict[int, str] = {}
        positions: dict[str, int] = {}
        events: list[ParsedEnvelope] = []
        keys: set[tuple[str, int]] = set()
        for position, raw in enumerate(raw_envelopes):
            try:
                event = parse(raw)
            except InvalidEnvelope as exc:
                rejected[position] = str(exc)
                continue
            key = (event.order_id, event.version)
            fresh = event.event_id not in positions and event.event_id not in self._applied
            if fresh and key not in keys:
                positions[event.event_id] = position
                events.append(event)
                keys.add(key)
        return rejected, positions, events

    async def _write(self, events: list[ParsedEnvelope]) -> tuple[set[str], dict[str, str]]:
        """History entries first, then each order's current items; return the orders whose
        current items moved, and the events DynamoDB refused for good (id -> reason)."""
        gate = asyncio.Semaphore(self._concurrency)
        puts = [Put(e.event_id, self._tables.log, self._history_item(e)) for e in events]
        failed = await put_all(self._client, puts, gate)
        newest: dict[str, ParsedEnvelope] = {}
        for event in events:
            if event.event_id in failed:
                continue
            if event.order_id not in newest or newest[event.order_id].version < event.version:
                newest[event.order_id] = event
        writes = [w for event in newest.values() for w in self._current_writes(event)]
        outcomes = await asyncio.gather(
            *(self._put_current(write, gate) for write in writes), return_exceptions=True
        )
        moved: set[str] = set()
        for write, outcome in zip(writes, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, ClientError) or is_transient(outcome):
                    raise outcome
                failed[write.event.event_id] = f"DynamoDB refused {write.table}: {outcome}"
            elif outcome is Outcome.WRITTEN:
                moved.add(write.event.order_id)
        return moved, failed

    async def _put_current(self, write: _Current, gate: asyncio.Semaphore) -> Outcome:
        async with gate:
            version = write.event.version
            return await put_newer(self._client, write.table, write.item, version)

    def _remember(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._applied[event_id] = None
            self._applied.move_to_end(event_id)
        while len(self._applied) > REMEMBERED_EVENTS:
            self._applied.popitem(last=False)

    def _current_writes(self, event: ParsedEnvelope) -> list[_Current]:
        """The conditional puts of an order's newest event: details, and each status table."""
        writes = []
        for kind, document in self._current_items(event):
            item = to_item(document)
            if kind == "details":
                writes.append(_Current(event, self._tables.details, item))
                continue
            for target in self._router.status_writes():
                shaped = target.apply(item)
                if shaped is not None:
                    writes.append(_Current(event, target.table, shaped))
        return writes

    def _current_items(self, event: ParsedEnvelope) -> list[tuple[str, dict[str, Any]]]:
        ttl = self._expiry.status_ttl(event.occurred_at)
        if event.deleted:
            updated_at = event.order.get("deletedAt") or event.raw["occurredAt"]
            grave = docs.tombstone(event.order_id, event.version, updated_at, ttl)
            return [("status", grave), ("details", grave)]
        return [
            ("status", docs.status_item(event.order, ttl)),
            ("details", docs.details_item(event.order, ttl)),
        ]

    def _history_item(self, event: ParsedEnvelope) -> dict[str, Any]:
        """The event's history entry: the same event always makes the same item."""
        entry = {
            "orderId": event.order_id,
            "sk": history_key(event.version),
            **event.history_entry(),
            "ttl": self._expiry.history_ttl(event.occurred_at),
        }
        restaurant = event.order.get("restaurantId")
        if restaurant:  # what the aggregator counts per restaurant (not part of the API's view)
            entry["restaurantId"] = restaurant
        return to_item(entry)

    def _observe_lag(self, events: list[ParsedEnvelope]) -> None:
        now = self._clock()
        for event in events:
            metrics.PROJECTION_LAG.observe(max(0.0, (now - event.occurred_at).total_seconds()))
