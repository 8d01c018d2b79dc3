"""Queries of the read side: cache -> DynamoDB -> PostgreSQL, filling the tiers that missed.

Each answer says which tier it came from. DynamoDB being down never fails a status or details
read: PostgreSQL answers. Listings by customer/restaurant and the counters exist only in
DynamoDB, so those raise ReadModelUnavailable instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from botocore.exceptions import ClientError

from orderline import metrics
from orderline.adapters.dynamodb.codec import from_item, to_item
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.tables import (
    ORDER_DETAILS,
    ORDER_STATUS,
    ORDER_STATUS_LOG,
    ORDER_STATUS_METRICS,
)
from orderline.adapters.postgres import outbox
from orderline.adapters.postgres.queries import PostgresOrderQueries
from orderline.domain.status import OrderStatus

from . import documents as docs
from .cache import MISSING, ReadCache
from .envelopes import InvalidEnvelope, parse
from .projector import counter_key, gauge_key, hour_bucket

log = logging.getLogger(__name__)

Source = Literal["cache", "dynamodb", "postgres"]
View = Literal["status", "details"]
DEPTH: dict[str, int] = {"cache": 0, "dynamodb": 1, "postgres": 2}
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
UNPROCESSED_RETRIES = 5
FILL_CONDITION = "attribute_not_exists(orderId) OR #version < :version OR #ttl < :now"
PARTY_INDEXES = {
    "customer": ("CustomerStatusIndex", "customerId"),
    "restaurant": ("RestaurantStatusIndex", "restaurantId"),
}
MAX_QUERY_PAGES = 10


class ReadModelUnavailable(Exception):
    """DynamoDB cannot answer a query that only the read model can answer."""


@dataclass(frozen=True)
class Read:
    document: docs.Document | None
    source: Source


@dataclass(frozen=True)
class BatchRead:
    items: list[docs.Document]
    not_found: list[str]
    source: Source
    sources: dict[str, int]


@dataclass(frozen=True)
class HistoryPage:
    entries: list[docs.Document]
    next_before: int | None
    source: Source


@dataclass(frozen=True)
class ListingPage:
    items: list[docs.Document]
    next_key: dict[str, str] | None


class OrderViews:
    def __init__(
        self,
        orders: PostgresOrderQueries,
        client: Any | None,
        prefix: str,
        cache: ReadCache[docs.Document],
        *,
        expiry: docs.Expiry | None = None,
        shards: int = 4,
        enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        counts_cache: ReadCache[docs.Document] | None = None,
    ) -> None:
        self._orders = orders
        self._counts = counts_cache if counts_cache is not None else ReadCache(0, 0, 0)
        self._counts_generation = 0  # bumped whenever this process projects counter changes
        self._client = client if enabled else None
        self._cache = cache if enabled else ReadCache(0, 0, 0)
        self._expiry = expiry or docs.Expiry()
        self._shards = shards
        self._clock = clock
        self._tables = {
            "status": ORDER_STATUS.table_name(prefix),
            "details": ORDER_DETAILS.table_name(prefix),
            "log": ORDER_STATUS_LOG.table_name(prefix),
            "metrics": ORDER_STATUS_METRICS.table_name(prefix),
        }

    # -- single orders -------------------------------------------------------------------------

    async def status(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self._read("status", order_id, min_version)

    async def details(self, order_id: UUID, min_version: int | None = None) -> Read:
        return await self._read("details", order_id, min_version)

    async def _read(self, view: View, order_id: UUID, min_version: int | None) -> Read:
        key = (view, str(order_id))
        cached = self._cache.get(key)
        if cached is not MISSING and _satisfies(cached, min_version):
            metrics.READS.labels(view, "cache", "hit").inc()
            return Read(cached, "cache")
        if self._cache.enabled:
            metrics.READS.labels(view, "cache", "miss").inc()
        if min_version is None:
            document, source = await self._cache.single_flight(
                key, lambda: self._load(view, order_id, None)
            )
            return Read(document, source)
        document, source = await self._load(view, order_id, min_version)
        return Read(document, source)

    async def _load(
        self, view: View, order_id: UUID, min_version: int | None
    ) -> tuple[docs.Document | None, Source]:
        reason = "unavailable"
        if self._client is not None:
            try:
                item = await self._get_item(view, str(order_id), consistent=min_version is not None)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.debug("DynamoDB read failed: %s", exc)
            else:
                found, reason = self._from_dynamodb(view, item, min_version)
                if reason == "hit":
                    return found, "dynamodb"
            metrics.READS.labels(view, "dynamodb", "miss").inc()
        metrics.READ_FALLBACKS.labels(view, reason).inc()
        document = await self._orders.get(order_id)
        metrics.READS.labels(view, "postgres", "hit" if document else "miss").inc()
        if document is None:
            self._cache.put((view, str(order_id)), None)
            return None, "postgres"
        self._remember(document)
        if reason != "unavailable":
            await self._fill([document])
        return _shape(view, document), "postgres"

    def _from_dynamodb(
        self, view: View, item: docs.Document | None, min_version: int | None
    ) -> tuple[docs.Document | None, str]:
        """(document, "hit") when DynamoDB answers, else (None, why it did not)."""
        if item is None:
            return None, "miss"
        if not docs.is_live(item, self._clock()):
            return None, "expired"
        key = (view, item["orderId"])
        version = int(item["version"])
        if docs.is_tombstone(item):
            metrics.READS.labels(view, "dynamodb", "hit").inc()
            self._cache.put(key, None, version)
            return None, "hit"
        if min_version is not None and version < min_version:
            return None, "min_version"
        document = docs.status_from_item(item) if view == "status" else docs.details_from_item(item)
        metrics.READS.labels(view, "dynamodb", "hit").inc()
        self._cache.put(key, document, version)
        return document, "hit"

    async def _get_item(
        self, view: View, order_id: str, *, consistent: bool
    ) -> docs.Document | None:
        assert self._client is not None
        response = await self._client.get_item(
            TableName=self._tables[view],
            Key={"orderId": {"S": order_id}},
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # -- batch status --------------------------------------------------------------------------

    async def statuses(self, order_ids: Sequence[UUID]) -> BatchRead:
        """Status of up to 100 orders: cache, one BatchGetItem, then one PostgreSQL query."""
        wanted = list(dict.fromkeys(str(order_id) for order_id in order_ids))
        found: dict[str, docs.Document] = {}
        gone: set[str] = set()
        sources = {"cache": 0, "dynamodb": 0, "postgres": 0}
        todo = []
        for order_id in wanted:
            cached = self._cache.get(("status", order_id))
            if cached is MISSING:
                todo.append(order_id)
                continue
            sources["cache"] += 1
            _answered(order_id, cached, found, gone)
        metrics.READS.labels("status", "cache", "hit").inc(len(wanted) - len(todo))
        if self._cache.enabled:
            metrics.READS.labels("status", "cache", "miss").inc(len(todo))
        todo = await self._batch_from_dynamodb(todo, found, gone, sources)
        if todo:
            documents = await self._orders.get_many([UUID(order_id) for order_id in todo])
            metrics.READS.labels("status", "postgres", "hit").inc(len(documents))
            metrics.READS.labels("status", "postgres", "miss").inc(len(todo) - len(documents))
            for document in documents:
                found[document["id"]] = docs.status_view(document)
                self._remember(document)
            for order_id in set(todo) - {document["id"] for document in documents}:
                gone.add(order_id)
                self._cache.put(("status", order_id), None)
            sources["postgres"] += len(todo)
            if self._client is not None and documents:
                await self._fill(documents)
        deepest = max((s for s, n in sources.items() if n), key=lambda s: DEPTH[s], default="cache")
        return BatchRead(
            items=[found[order_id] for order_id in wanted if order_id in found],
            not_found=[order_id for order_id in wanted if order_id in gone],
            source=deepest,  # type: ignore[arg-type]
            sources=sources,
        )

    async def _batch_from_dynamodb(
        self,
        order_ids: list[str],
        found: dict[str, docs.Document],
        gone: set[str],
        sources: dict[str, int],
    ) -> list[str]:
        """Answer what DynamoDB can; return the ids left for PostgreSQL."""
        if not order_ids or self._client is None:
            return order_ids
        try:
            items = await self._batch_get(order_ids)
        except Exception as exc:
            if not is_transient(exc):
                raise
            metrics.READ_FALLBACKS.labels("status", "unavailable").inc(len(order_ids))
            return order_ids
        left = []
        for order_id in order_ids:
            item = items.get(order_id)
            document, reason = self._from_dynamodb("status", item, None)
            if reason != "hit":
                left.append(order_id)
                metrics.READS.labels("status", "dynamodb", "miss").inc()
                metrics.READ_FALLBACKS.labels("status", reason).inc()
                continue
            sources["dynamodb"] += 1
            _answered(order_id, document, found, gone)
        return left

    async def _batch_get(self, order_ids: list[str]) -> dict[str, docs.Document]:
        assert self._client is not None
        table = self._tables["status"]
        items: dict[str, docs.Document] = {}
        for start in range(0, len(order_ids), BATCH_GET_LIMIT):
            keys = [
                {"orderId": {"S": order_id}}
                for order_id in order_ids[start : start + BATCH_GET_LIMIT]
            ]
            request: dict[str, Any] = {table: {"Keys": keys}}
            for attempt in range(UNPROCESSED_RETRIES + 1):
                response = await self._client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(table, []):
                    item = from_item(raw)
                    items[item["orderId"]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt < UNPROCESSED_RETRIES:
                    await asyncio.sleep(0.01 * 2**attempt)
            # keys still unprocessed after the retries are simply left for PostgreSQL
        return items

    # -- history -------------------------------------------------------------------------------

    async def history(
        self, order_id: UUID, *, limit: int, before: int | None = None
    ) -> HistoryPage | None:
        """Newest first; None when the order has no events at all (unknown id)."""
        if self._client is not None:
            try:
                page = await self._history_from_dynamodb(str(order_id), limit, before)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                metrics.READ_FALLBACKS.labels("history", "unavailable").inc()
            else:
                if page.entries or before is not None:
                    return page
                metrics.READ_FALLBACKS.labels("history", "miss").inc()
        envelopes = await outbox.events_of(
            self._orders.engine, order_id, before_version=before, limit=limit + 1
        )
        entries = []
        for raw in envelopes:
            try:
                entries.append(docs.history_view(parse(raw).history_entry()))
            except InvalidEnvelope:
                continue
        if not entries and before is None:
            return None
        return _history_page(entries, limit, "postgres")

    async def _history_from_dynamodb(
        self, order_id: str, limit: int, before: int | None
    ) -> HistoryPage:
        assert self._client is not None
        condition = "orderId = :order"
        values: dict[str, Any] = {":order": {"S": order_id}}
        if before is not None:
            condition += " AND sk < :before"
            values[":before"] = {"S": docs.history_key(before)}
        response = await self._client.query(
            TableName=self._tables["log"],
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        now = self._clock()
        entries = [
            docs.history_view(item)
            for item in map(from_item, response.get("Items", []))
            if docs.is_live(item, now)
        ]
        return _history_page(entries, limit, "dynamodb")

    # -- listings by customer / restaurant -----------------------------------------------------

    async def by_party(
        self,
        party: Literal["customer", "restaurant"],
        party_id: str,
        *,
        limit: int,
        status: str | None = None,
        after: dict[str, str] | None = None,
    ) -> ListingPage:
        """Orders of one customer or restaurant, most recently changed first (GSI query)."""
        if self._client is None:
            raise ReadModelUnavailable("the read model is switched off")
        index, key_name = PARTY_INDEXES[party]
        collected: list[docs.Document] = []
        start = after
        now = self._clock()
        try:
            for _ in range(MAX_QUERY_PAGES):
                response = await self._client.query(
                    **self._party_query(
                        index, key_name, party_id, status, start, limit + 1 - len(collected)
                    )
                )
                items = [from_item(raw) for raw in response.get("Items", [])]
                collected += [item for item in items if docs.is_live(item, now)]
                start = response.get("LastEvaluatedKey")
                start = {name: value["S"] for name, value in start.items()} if start else None
                if start is None or len(collected) > limit:
                    break
        except Exception as exc:
            if is_transient(exc):
                raise ReadModelUnavailable(str(exc)) from exc
            raise
        page = collected[:limit]
        if len(collected) > limit:
            last = page[-1]
            start = {
                "orderId": last["orderId"],
                key_name: last[key_name],
                "updatedAt": last["updatedAt"],
            }
        return ListingPage([docs.status_from_item(item) for item in page], start)

    def _party_query(
        self,
        index: str,
        key_name: str,
        party_id: str,
        status: str | None,
        start: dict[str, str] | None,
        wanted: int,
    ) -> dict[str, Any]:
        query: dict[str, Any] = {
            "TableName": self._tables["status"],
            "IndexName": index,
            "KeyConditionExpression": "#party = :party",
            "ExpressionAttributeNames": {"#party": key_name},
            "ExpressionAttributeValues": {":party": {"S": party_id}},
            "ScanIndexForward": False,
            "Limit": wanted,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"]["#status"] = "status"
            query["ExpressionAttributeValues"][":status"] = {"S": status}
            query["Limit"] = max(wanted, 50)  # the filter applies after the limit
        if start is not None:
            query["ExclusiveStartKey"] = {name: {"S": value} for name, value in start.items()}
        return query

    # -- counters ------------------------------------------------------------------------------

    async def status_counts(self, start: datetime, end: datetime) -> docs.Document:
        """Entries into each status and their value per hour in [start, end), plus current counts.

        `start` and `end` are whole hours (the API rounds them).
        """
        if self._client is None:
            raise ReadModelUnavailable("the read model is switched off")
        first, last = hour_bucket(start), hour_bucket(end - timedelta(hours=1))
        key = ("counts", first, last)
        cached = self._counts.get(key)
        if cached is not MISSING and cached is not None:
            return cached
        counts, _ = await self._counts.single_flight(key, lambda: self._counted(key))
        assert counts is not None
        return counts

    def counts_changed(self) -> None:
        """This process projected events: cached counts are out of date."""
        self._counts_generation += 1
        self._counts.clear()

    async def _counted(self, key: tuple[str, str, str]) -> tuple[docs.Document, None]:
        generation = self._counts_generation
        counts = await self._count(key[1], key[2])
        if generation == self._counts_generation:  # nothing was projected while it was read
            self._counts.put(key, counts)
        return counts, None

    async def _count(self, first: str, last: str) -> docs.Document:
        """One Query per status and shard, and one per gauge shard (28 with 4 shards)."""
        statuses = [status.value for status in OrderStatus]
        try:
            counter_items, gauge_items = await asyncio.gather(
                asyncio.gather(
                    *(
                        self._query_all(counter_key(status, shard), first, last)
                        for status in statuses
                        for shard in range(self._shards)
                    )
                ),
                asyncio.gather(
                    *(self._query_all(gauge_key(shard)) for shard in range(self._shards))
                ),
            )
        except Exception as exc:
            if is_transient(exc):
                raise ReadModelUnavailable(str(exc)) from exc
            raise
        buckets: dict[str, dict[str, list[Any]]] = {}
        totals: dict[str, list[Any]] = {status: [0, Decimal(0)] for status in statuses}
        for items in counter_items:
            for item in items:
                status = item["pk"].split("#", 1)[0]
                cell = buckets.setdefault(item["sk"], {}).setdefault(status, [0, Decimal(0)])
                for target in (cell, totals[status]):
                    target[0] += int(item.get("count", 0))
                    target[1] += Decimal(item.get("totalValue", 0))
        current = dict.fromkeys(statuses, 0)
        for items in gauge_items:
            for item in items:
                current[item["sk"]] += int(item.get("count", 0))
        return {
            "from": _hour_iso(first),
            "to": _hour_iso(last, plus_hours=1),
            "buckets": [
                {
                    "hour": _hour_iso(hour),
                    "statuses": {s: _cell(c) for s, c in sorted(cells.items())},
                }
                for hour, cells in sorted(buckets.items())
            ],
            "totals": {status: _cell(cell) for status, cell in totals.items()},
            "current": current,
        }

    async def _query_all(
        self, pk: str, first: str | None = None, last: str | None = None
    ) -> list[docs.Document]:
        assert self._client is not None
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if first is not None and last is not None:
            condition += " AND sk BETWEEN :first AND :last"
            values.update({":first": {"S": first}, ":last": {"S": last}})
        items: list[docs.Document] = []
        start = None
        while True:
            query: dict[str, Any] = {
                "TableName": self._tables["metrics"],
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
            if start:
                query["ExclusiveStartKey"] = start
            response = await self._client.query(**query)
            items += [from_item(raw) for raw in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                return items

    # -- keeping the tiers fresh ---------------------------------------------------------------

    def observe(self, envelopes: Sequence[docs.Document]) -> None:
        """Update the cache from projected events (the in-process projector and write-through)."""
        if not self._cache.enabled:
            return
        for raw in envelopes:
            try:
                event = parse(raw)
            except InvalidEnvelope:
                continue
            if event.deleted:
                for view in ("status", "details"):
                    self._cache.put((view, event.order_id), None, event.version)
            else:
                self._remember(event.order)

    async def warm(self, orders: int) -> int:
        """Cache the status of the `orders` most recently updated orders; how many it cached."""
        if not (self._cache.enabled and orders):
            return 0
        warmed = 0
        async for documents in self._orders.recent(orders):
            for document in documents:
                version = int(document["version"])
                self._cache.put(("status", document["id"]), docs.status_view(document), version)
            warmed += len(documents)
        return warmed

    def _remember(self, document: docs.Document) -> None:
        version = int(document["version"])
        self._cache.put(("status", document["id"]), docs.status_view(document), version)
        self._cache.put(("details", document["id"]), document, version)

    async def _fill(self, documents: Sequence[docs.Document]) -> None:
        """Write what PostgreSQL answered into DynamoDB, never over a newer version."""
        if self._client is None:
            return
        now = self._clock()
        ttl = self._expiry.status_ttl(now)
        puts = []
        for document in documents:
            puts.append(self._fill_put("status", docs.status_item(document, ttl), now))
            puts.append(self._fill_put("details", docs.details_item(document, ttl), now))
        for outcome in await asyncio.gather(*puts, return_exceptions=True):
            if isinstance(outcome, BaseException) and not _condition_failed(outcome):
                metrics.FILL_ERRORS.inc()
                log.debug("read-model fill failed: %s", outcome)

    async def _fill_put(self, view: View, item: docs.Document, now: datetime) -> None:
        assert self._client is not None
        await self._client.put_item(
            TableName=self._tables[view],
            Item=to_item(item),
            ConditionExpression=FILL_CONDITION,
            ExpressionAttributeNames={"#version": "version", "#ttl": "ttl"},
            ExpressionAttributeValues={
                ":version": {"N": str(item["version"])},
                ":now": {"N": str(docs.epoch(now))},
            },
        )


def _answered(
    order_id: str,
    document: docs.Document | None,
    found: dict[str, docs.Document],
    gone: set[str],
) -> None:
    """A tier answered for one id of a batch: its status, or that the order does not exist."""
    if document is None:
        gone.add(order_id)
    else:
        found[order_id] = document


def _satisfies(cached: docs.Document | None, min_version: int | None) -> bool:
    if min_version is None:
        return True
    return cached is not None and int(cached["version"]) >= min_version


def _shape(view: View, document: docs.Document) -> docs.Document:
    return docs.status_view(document) if view == "status" else document


def _history_page(entries: list[docs.Document], limit: int, source: Source) -> HistoryPage:
    page = entries[:limit]
    more = len(entries) > limit
    return HistoryPage(page, page[-1]["version"] if more and page else None, source)


def _condition_failed(exc: BaseException) -> bool:
    return (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


def _cell(cell: list[Any]) -> dict[str, Any]:
    return {"count": cell[0], "totalValue": docs.amount_text(cell[1])}


def _hour_iso(bucket: str, plus_hours: int = 0) -> str:
    moment = datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC) + timedelta(
        hours=plus_hours
    )
    return moment.strftime("%Y-%m-%dT%H:00:00Z")
