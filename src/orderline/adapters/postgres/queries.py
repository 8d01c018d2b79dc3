"""Reads straight from the write model: single orders and keyset-paginated listings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, and_, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Document
from orderline.readmodel.ports import OrderFilters, OrderPage, Position

from . import mapping
from .tables import order_items, orders


class PostgresOrderQueries:
    """The read side's `OrderQueries` port on PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def get(self, order_id: UUID, *, include_deleted: bool = False) -> Document | None:
        query = select(orders).where(orders.c.id == order_id)
        if not include_deleted:
            query = query.where(orders.c.deleted_at.is_(None))
        documents = await self._documents(query)
        return documents[0] if documents else None

    async def get_many(self, order_ids: list[UUID]) -> list[Document]:
        """The live orders among `order_ids`, in one query (unknown and deleted ids left out)."""
        if not order_ids:
            return []
        query = select(orders).where(orders.c.id.in_(order_ids), orders.c.deleted_at.is_(None))
        return await self._documents(query)

    async def count(self) -> int:
        """Every order, deleted ones included (the total `scan` goes through)."""
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(orders))).scalar_one())

    async def scan(self, *, batch_size: int = 100) -> AsyncIterator[list[Document]]:
        """Every order, deleted ones included, in id order (reconcile)."""
        after: UUID | None = None
        while True:
            query = select(orders).order_by(orders.c.id).limit(batch_size)
            if after is not None:
                query = query.where(orders.c.id > after)
            documents = await self._documents(query)
            if not documents:
                return
            yield documents
            after = UUID(documents[-1]["id"])

    async def recent(self, limit: int, *, batch_size: int = 1000) -> AsyncIterator[list[Document]]:
        """The `limit` most recently updated live orders, newest first, a batch at a time."""
        after: tuple[datetime, UUID] | None = None
        left = limit
        while left > 0:
            query = (
                select(orders)
                .where(orders.c.deleted_at.is_(None))
                .order_by(orders.c.updated_at.desc(), orders.c.id.desc())
                .limit(min(batch_size, left))
            )
            if after is not None:
                query = query.where(tuple_(orders.c.updated_at, orders.c.id) < after)
            documents = await self._documents(query)
            if not documents:
                return
            yield documents
            left -= len(documents)
            after = (datetime.fromisoformat(documents[-1]["updatedAt"]), UUID(documents[-1]["id"]))

    async def page(
        self,
        filters: OrderFilters,
        *,
        limit: int,
        after: Position | None = None,
        ownership: Ownership = EVERYTHING,
    ) -> OrderPage:
        query = select(orders).where(orders.c.deleted_at.is_(None))
        for column, value in (
            (orders.c.customer_id, filters.customer_id),
            (orders.c.restaurant_id, filters.restaurant_id),
            (orders.c.status, filters.status),
            # ownership in the WHERE clause: other principals' orders are never selected
            (orders.c.customer_id, ownership.customer_id),
            (orders.c.restaurant_id, ownership.restaurant_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            query = query.where(
                or_(
                    orders.c.created_at < after.created_at,
                    and_(orders.c.created_at == after.created_at, orders.c.id < after.order_id),
                )
            )
        query = query.order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit + 1)
        documents = await self._documents(query)
        if len(documents) <= limit:
            return OrderPage(documents, None)
        last = documents[limit - 1]
        position = Position(datetime.fromisoformat(last["createdAt"]), UUID(last["id"]))
        return OrderPage(documents[:limit], position)

    async def _documents(self, query: Select[Any]) -> list[Document]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            item_query = select(order_items).where(order_items.c.order_id.in_(ids))
            items = mapping.group_items((await conn.execute(item_query)).mappings().all())
        return [mapping.to_order(row, items.get(row["id"], [])).snapshot() for row in rows]
