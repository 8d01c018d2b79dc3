"""The tiers every read goes through (cache -> DynamoDB -> PostgreSQL) and their upkeep.

Upkeep: the cache is refreshed from projected events (`observe`) and warmed at start (`warm`);
what PostgreSQL answers is remembered in the cache and filled into DynamoDB (`fill`), never
over a newer version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from orderline import metrics
from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.codec import from_item, to_item
from orderline.adapters.dynamodb.errors import is_condition_failed
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import ReadModelTables
from orderline.domain.events import Envelope
from orderline.domain.order import Document

from . import documents as docs
from .cache import ReadCache
from .envelopes import InvalidEnvelope, parse
from .ports import OrderQueries
from .routing import TableRouter

log = logging.getLogger(__name__)

Source = Literal["cache", "dynamodb", "postgres"]
View = Literal["status", "details"]
SOURCES: tuple[Source, ...] = ("cache", "dynamodb", "postgres")  # shallowest first
FILL_CONDITION = "attribute_not_exists(orderId) OR #version < :version OR #ttl < :now"


class ReadModelUnavailable(Exception):
    """DynamoDB cannot answer a query that only the read model can answer."""


@dataclass
class Tiers:
    """What the query families share; `client` is None when the read model is switched off."""

    orders: OrderQueries
    client: DynamoDBClient | None
    tables: ReadModelTables
    cache: ReadCache[Document]
    expiry: docs.Expiry
    clock: Callable[[], datetime]
    router: TableRouter | None = None  # a table migration may move status reads to a new table

    def read_model(self) -> DynamoDBClient:
        """The DynamoDB client of a query only the read model answers."""
        if self.client is None:
            raise ReadModelUnavailable("the read model is switched off")
        return self.client

    @property
    def status_table(self) -> str:
        return self.router.status_read().table if self.router else self.tables.status

    def table_of(self, view: View) -> str:
        return self.status_table if view == "status" else self.tables.details

    def from_dynamodb(
        self, view: View, item: Document | None, min_version: int | None
    ) -> tuple[Document | None, str]:
        """(document, "hit") when DynamoDB answers, else (None, why it did not)."""
        if item is None:
            return None, "miss"
        if not docs.is_live(item, self.clock()):
            return None, "expired"
        key = (view, item["orderId"])
        version = int(item["version"])
        if docs.is_tombstone(item):
            metrics.READS.labels(view, "dynamodb", "hit").inc()
            self.cache.put(key, None, version)
            return None, "hit"
        if min_version is not None and version < min_version:
            return None, "min_version"
        document = docs.status_from_item(item) if view == "status" else docs.details_from_item(item)
        metrics.READS.labels(view, "dynamodb", "hit").inc()
        self.cache.put(key, document, version)
        return document, "hit"

    def remember(self, document: Document) -> None:
        version = int(document["version"])
        self.cache.put(("status", document["id"]), docs.status_view(document), version)
        self.cache.put(("details", document["id"]), document, version)

    def observe(self, envelopes: Sequence[Envelope]) -> None:
        """Update the cache from projected events (the in-process projector and write-through)."""
        if not self.cache.enabled:
            return
        for raw in envelopes:
            try:
                event = parse(raw)
            except InvalidEnvelope:
                continue
            if event.deleted:
                for view in ("status", "details"):
                    self.cache.put((view, event.order_id), None, event.version)
            else:
                self.remember(event.order)

    async def warm(self, orders: int) -> int:
        """Cache the status of the `orders` most recently updated orders; how many it cached."""
        if not (self.cache.enabled and orders):
            return 0
        warmed = 0
        async for documents in self.orders.recent(orders):
            for document in documents:
                version = int(document["version"])
                self.cache.put(("status", document["id"]), docs.status_view(document), version)
            warmed += len(documents)
        return warmed

    async def fill(self, documents: Sequence[Document]) -> None:
        """Write what PostgreSQL answered into DynamoDB, never over a newer version."""
        if self.client is None:
            return
        now = self.clock()
        ttl = self.expiry.status_ttl(now)
        puts = []
        for document in documents:
            puts.append(self._fill_put("status", docs.status_item(document, ttl), now))
            puts.append(self._fill_put("details", docs.details_item(document, ttl), now))
        for outcome in await asyncio.gather(*puts, return_exceptions=True):
            if isinstance(outcome, BaseException) and not is_condition_failed(outcome):
                metrics.FILL_ERRORS.inc()
                log.debug("read-model fill failed: %s", outcome)

    async def _fill_put(self, view: View, item: Document, now: datetime) -> None:
        table = self.table_of(view)
        if view == "status" and self.router is not None:
            target = self.router.status_read()  # the new table's schema during a migration
            table, shaped = target.table, target.apply(to_item(item))
            if shaped is None:
                return
            item = from_item(shaped)
        await read_side_calls.put_item(
            self.read_model(),
            table,
            item,
            condition=FILL_CONDITION,
            names={"#version": "version", "#ttl": "ttl"},
            values={
                ":version": {"N": str(item["version"])},
                ":now": {"N": str(docs.epoch(now))},
            },
        )


def deepest(sources: dict[str, int]) -> Source:
    """The slowest tier that answered any order a batch shows (cache when it shows none)."""
    found: list[Source] = [source for source in SOURCES if sources.get(source)]
    return found[-1] if found else "cache"
