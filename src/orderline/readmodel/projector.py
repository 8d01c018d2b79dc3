"""Events -> DynamoDB read model: idempotent, order-insensitive, batched into transactions.

Per batch, each order's newest event writes `order-status` and `order-details` only over an older
version; every event writes its history entry, conditioned on not existing. A cancelled
transaction's `CancellationReasons` say which writes were stale or duplicate: those are dropped
and the rest retried. Counters and gauges are not written here: they are counted from the
history table's stream (`streams/counters.py`), where each entry appears once. The projector
never reads PostgreSQL.
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
from orderline.adapters.dynamodb.protocol import TransactionWriter
from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.events import Envelope as EventDict  # as committed; .envelopes parses it

from . import documents as docs
from .envelopes import InvalidEnvelope, ParsedEnvelope, parse
from .routing import StaticRouter, TableRouter

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
REMEMBERED_EVENTS = 10_000
CONFLICT_RETRIES = 5
NEWER_ONLY = "attribute_not_exists(orderId) OR #version < :version"
ABSENT = "attribute_not_exists(orderId)"


@dataclass(frozen=True)
class ProjectionResult:
    applied: int = 0
    duplicates: int = 0
    rejected: dict[int, str] = field(default_factory=dict)  # input position -> reason


Observer = Callable[[Sequence[EventDict]], None]
"""Told about events once they are projected (the read side refreshes its cache)."""


class ProjectsEvents(Protocol):
    """What a bus delivers to: the projector, or a stand-in in the bus contract tests."""

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult: ...


@dataclass(frozen=True)
class _Write:
    kind: str  # status@<table>, details, log
    ref: str  # order id (status, details), event id (log)
    request: dict[str, Any]


@dataclass
class _Chunk:
    """Events written in one transaction; shrinks as writes turn out stale or duplicate."""

    events: list[ParsedEnvelope]
    newest: dict[str, ParsedEnvelope]
    stale: set[tuple[str, str]] = field(default_factory=set)


class Projector:
    def __init__(
        self,
        client: TransactionWriter,
        prefix: str,
        *,
        expiry: docs.Expiry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_applied: Callable[[], None] | None = None,
        router: TableRouter | None = None,
    ) -> None:
        self._client = client
        self._on_applied = on_applied  # told after any batch that changed the tables
        self._expiry = expiry or docs.Expiry()
        self._clock = clock
        self._tables = ReadModelTables.under(prefix)
        # which status table(s) to write: more than one during a table migration
        self._router = router or StaticRouter(self._tables.status)
        # Events this instance already saw applied (write-through, then the relay): skipped
        # without a DynamoDB call. Only an optimisation; the conditions stay the guarantee.
        self._applied: OrderedDict[str, None] = OrderedDict()

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult:
        """Apply a batch. Invalid events are rejected by position; DynamoDB outages raise."""
        await self._router.refresh_if_stale()
        rejected: dict[int, str] = {}
        positions: dict[str, int] = {}
        events: list[ParsedEnvelope] = []
        for position, raw in enumerate(raw_envelopes):
            try:
                event = parse(raw)
            except InvalidEnvelope as exc:
                rejected[position] = str(exc)
                continue
            if event.event_id not in positions and event.event_id not in self._applied:
                positions[event.event_id] = position
                events.append(event)
        applied = refused = 0
        for chunk in self._chunks(events):
            done, failed = await self._apply_isolating_poison(chunk)
            applied += done
            refused += len(failed)
            rejected.update({positions[event_id]: reason for event_id, reason in failed.items()})
        duplicates = len(raw_envelopes) - len(rejected) - applied
        metrics.PROJECTED_EVENTS.labels("applied").inc(applied)
        metrics.PROJECTED_EVENTS.labels("duplicate").inc(duplicates)
        if applied and self._on_applied is not None:
            self._on_applied()
        return ProjectionResult(applied, duplicates, rejected)

    def _chunks(self, events: list[ParsedEnvelope]) -> Iterable[_Chunk]:
        """Group events so that no transaction can exceed DynamoDB's item limit."""
        newest: dict[str, ParsedEnvelope] = {}
        for event in events:
            if event.order_id not in newest or newest[event.order_id].version < event.version:
                newest[event.order_id] = event
        chunk = _Chunk([], {})
        budget = 0
        for event in sorted(events, key=lambda e: (e.order_id, e.version)):
            is_newest = newest[event.order_id] is event
            # the history entry (+ details and each status table for an order's newest event)
            cost = 1 + (1 + len(self._router.status_writes()) if is_newest else 0)
            if budget + cost > MAX_TRANSACTION_ITEMS:
                yield chunk
                chunk, budget = _Chunk([], {}), 0
            chunk.events.append(event)
            if is_newest:
                chunk.newest[event.order_id] = event
            budget += cost
        if chunk.events:
            yield chunk

    async def _apply_isolating_poison(self, chunk: _Chunk) -> tuple[int, dict[str, str]]:
        """A write DynamoDB refuses for good is retried alone, so only its event is rejected."""
        try:
            return await self._apply(chunk), {}
        except ClientError as exc:
            if is_transient(exc):
                raise
            if len(chunk.events) == 1:
                return 0, {chunk.events[0].event_id: f"DynamoDB refused the event: {exc}"}
        applied, failed = 0, {}
        for event in chunk.events:
            newest = chunk.newest.get(event.order_id) is event
            single = _Chunk([event], {event.order_id: event} if newest else {})
            done, refused = await self._apply_isolating_poison(single)
            applied += done
            failed.update(refused)
        return applied, failed

    async def _apply(self, chunk: _Chunk) -> int:
        """Write the chunk in one transaction; return how many of its events were new."""
        in_dynamodb = [event.event_id for event in chunk.events]  # once the loop ends well
        for attempt in range(CONFLICT_RETRIES + 1):
            writes = self._writes(chunk)
            if not writes:
                self._remember(in_dynamodb)
                return 0
            try:
                await self._client.transact_write_items(TransactItems=[w.request for w in writes])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                if not self._drop_refused(chunk, writes, reasons):
                    if attempt == CONFLICT_RETRIES:
                        raise
                    await asyncio.sleep(0.01 * 2**attempt)
                continue
            self._observe_lag(chunk.events)
            self._remember(in_dynamodb)
            return len(chunk.events)
        return 0  # pragma: no cover - the loop returns or raises

    def _remember(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self._applied[event_id] = None
            self._applied.move_to_end(event_id)
        while len(self._applied) > REMEMBERED_EVENTS:
            self._applied.popitem(last=False)

    def _drop_refused(self, chunk: _Chunk, writes: list[_Write], reasons: list[Any]) -> bool:
        """Remove writes whose condition failed; False when only conflicts cancelled it."""
        dropped = False
        for write, reason in zip(writes, reasons, strict=False):
            code = reason.get("Code", "None")
            if code == "ConditionalCheckFailed":
                dropped = True
                if write.kind == "log":
                    chunk.events = [e for e in chunk.events if e.event_id != write.ref]
                else:
                    chunk.stale.add((write.kind, write.ref))
            elif code not in ("None", "TransactionConflict", "ThrottlingError"):
                raise ClientError(
                    {"Error": {"Code": code, "Message": reason.get("Message", "")}},
                    "TransactWriteItems",
                )
        return dropped

    def _writes(self, chunk: _Chunk) -> list[_Write]:
        writes: list[_Write] = []
        for order_id, event in chunk.newest.items():
            for kind, item in self._current_items(event):
                writes += self._current_writes(chunk, kind, order_id, item, event.version)
        for event in chunk.events:
            writes.append(_Write("log", event.event_id, self._history_put(event)))
        return writes

    def _current_writes(
        self, chunk: _Chunk, kind: str, order_id: str, item: dict[str, Any], version: int
    ) -> list[_Write]:
        """The conditional puts of one order's current item: details, or each status table."""
        if kind != "status":
            if ("details", order_id) in chunk.stale:
                return []
            return [
                _Write(kind, order_id, transact_put_if_newer(self._tables.details, item, version))
            ]
        writes = []
        for target in self._router.status_writes():
            key = f"status@{target.table}"
            request = transact_put_if_newer(target.table, item, version)
            shaped = target.apply(request["Put"]["Item"])
            if (key, order_id) not in chunk.stale and shaped is not None:
                request["Put"]["Item"] = shaped
                writes.append(_Write(key, order_id, request))
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

    def _history_put(self, event: ParsedEnvelope) -> dict[str, Any]:
        entry = {
            "orderId": event.order_id,
            "sk": history_key(event.version),
            **event.history_entry(),
            "ttl": self._expiry.history_ttl(event.occurred_at),
        }
        restaurant = event.order.get("restaurantId")
        if restaurant:  # what the aggregator counts per restaurant (not part of the API's view)
            entry["restaurantId"] = restaurant
        return {
            "Put": {
                "TableName": self._tables.log,
                "Item": to_item(entry),
                "ConditionExpression": ABSENT,
            }
        }

    def _observe_lag(self, events: list[ParsedEnvelope]) -> None:
        now = self._clock()
        for event in events:
            metrics.PROJECTION_LAG.observe(max(0.0, (now - event.occurred_at).total_seconds()))


def transact_put_if_newer(table: str, item: dict[str, Any], version: int) -> dict[str, Any]:
    """A transaction's put that applies only over an older version (or no item)."""
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": NEWER_ONLY,
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":version": {"N": str(version)}},
        }
    }
