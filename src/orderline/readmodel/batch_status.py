"""Batch status: up to 100 orders from the cache, one BatchGetItem, then one PostgreSQL query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from orderline import metrics
from orderline.adapters.dynamodb import read_side_calls
from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Document

from . import documents as docs
from .cache import MISSING
from .tiers import Source, Tiers, deepest


@dataclass(frozen=True)
class BatchRead:
    items: list[Document]
    not_found: list[str]
    source: Source
    sources: dict[str, int]


@dataclass
class _Answers:
    """What the tiers answered so far for the ids of one batch, and which tier answered each."""

    found: dict[str, Document] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    answered_by: dict[str, str] = field(default_factory=dict)

    def hide_unless(self, ownership: Ownership) -> None:
        """Orders another principal owns answer exactly like missing ones."""
        for order_id, document in list(self.found.items()):
            if not ownership.admits(document):
                del self.found[order_id]
                self.gone.add(order_id)

    def answer(self, order_id: str, document: Document | None, source: str) -> None:
        """A tier answered for one id: its status, or that the order does not exist."""
        self.answered_by[order_id] = source
        if document is None:
            self.gone.add(order_id)
        else:
            self.found[order_id] = document

    def sources(self) -> dict[str, int]:
        """How many of the orders shown each tier answered, counted after hiding: an id in
        `notFound` (unknown, deleted or another's) counts nowhere, so the tier that knew an
        order exists is never told to a caller who may not see it."""
        counts = {"cache": 0, "dynamodb": 0, "postgres": 0}
        for order_id in self.found:
            counts[self.answered_by[order_id]] += 1
        return counts


class BatchStatus:
    def __init__(self, tiers: Tiers) -> None:
        self._tiers = tiers

    async def read(self, order_ids: Sequence[UUID], ownership: Ownership = EVERYTHING) -> BatchRead:
        """Duplicate ids are asked once (DynamoDB refuses duplicate keys in one request); orders
        `ownership` does not admit are reported not found."""
        wanted = list(dict.fromkeys(str(order_id) for order_id in order_ids))
        answers = _Answers()
        todo = self._from_cache(wanted, answers)
        todo = await self._from_dynamodb(todo, answers)
        if todo:
            await self._from_postgres(todo, answers)
        answers.hide_unless(ownership)
        sources = answers.sources()
        return BatchRead(
            items=[answers.found[order_id] for order_id in wanted if order_id in answers.found],
            not_found=[order_id for order_id in wanted if order_id in answers.gone],
            source=deepest(sources),
            sources=sources,
        )

    def _from_cache(self, order_ids: list[str], answers: _Answers) -> list[str]:
        cache = self._tiers.cache
        todo = []
        for order_id in order_ids:
            cached = cache.get(("status", order_id))
            if cached is MISSING:
                todo.append(order_id)
            else:
                answers.answer(order_id, cached, "cache")
        metrics.READS.labels("status", "cache", "hit").inc(len(order_ids) - len(todo))
        if cache.enabled:
            metrics.READS.labels("status", "cache", "miss").inc(len(todo))
        return todo

    async def _from_dynamodb(self, order_ids: list[str], answers: _Answers) -> list[str]:
        """Answer what DynamoDB can; return the ids left for PostgreSQL."""
        tiers = self._tiers
        if not order_ids or tiers.client is None:
            return order_ids
        try:
            # keys still unprocessed after the retries are simply left for PostgreSQL
            got = await read_side_calls.batch_get(tiers.client, tiers.status_table, order_ids)
        except Exception as exc:
            if not is_transient(exc):
                raise
            metrics.READ_FALLBACKS.labels("status", "unavailable").inc(len(order_ids))
            return order_ids
        left = []
        for order_id in order_ids:
            document, reason = tiers.from_dynamodb("status", got.items.get(order_id), None)
            if reason != "hit":
                left.append(order_id)
                metrics.READS.labels("status", "dynamodb", "miss").inc()
                metrics.READ_FALLBACKS.labels("status", reason).inc()
                continue
            answers.answer(order_id, document, "dynamodb")
        return left

    async def _from_postgres(self, order_ids: list[str], answers: _Answers) -> None:
        tiers = self._tiers
        documents = await tiers.orders.get_many([UUID(order_id) for order_id in order_ids])
        metrics.READS.labels("status", "postgres", "hit").inc(len(documents))
        metrics.READS.labels("status", "postgres", "miss").inc(len(order_ids) - len(documents))
        for document in documents:
            answers.answer(document["id"], docs.status_view(document), "postgres")
            tiers.remember(document)
        for order_id in set(order_ids) - {document["id"] for document in documents}:
            answers.answer(order_id, None, "postgres")
            tiers.cache.put(("status", order_id), None)
        if tiers.client is not None and documents:
            await tiers.fill(documents)
