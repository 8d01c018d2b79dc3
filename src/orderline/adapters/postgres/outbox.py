"""The outbox as the relay and the rebuild tools see it: claim, mark, count, scan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderline.domain.events import Envelope

from .tables import outbox
from .unit_of_work import DEFAULT_CHANNEL


@dataclass(frozen=True)
class OutboxRow:
    id: int
    attempts: int
    envelope: Envelope


@dataclass(frozen=True)
class OutboxStats:
    backlog: int
    oldest_unpublished: datetime | None
    parked: int
    published: int


# A transaction holding this (shared, transaction-scoped) advisory lock promises never to insert
# an outbox row, so live tracking's release horizon (`live_feed`) need not wait for it: the
# relay's, whose row locks give it a transaction id for as long as it publishes a batch.
NEVER_APPENDS_LOCK = 0x4F4C0017  # in pg_locks: locktype advisory, classid 0, objid this, objsubid 1
MARK_NEVER_APPENDS = text(f"SELECT pg_advisory_xact_lock_shared({NEVER_APPENDS_LOCK})")


async def claim(conn: AsyncConnection, limit: int) -> list[OutboxRow]:
    """Lock the oldest due rows that no other relay holds (in id order), inside conn's txn,
    first marking the transaction as one that never appends (`NEVER_APPENDS_LOCK`)."""
    await conn.execute(MARK_NEVER_APPENDS)
    query = (
        select(outbox.c.id, outbox.c.attempts, outbox.c.payload)
        .where(
            outbox.c.published_at.is_(None),
            outbox.c.parked_at.is_(None),
            outbox.c.available_at <= func.now(),
        )
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await conn.execute(query)).all()
    return [OutboxRow(row.id, row.attempts, row.payload) for row in rows]


async def mark_published(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(
            update(outbox).where(outbox.c.id.in_(ids)).values(published_at=func.now())
        )


async def mark_failed(
    conn: AsyncConnection, row: OutboxRow, error: str, *, retry_in: timedelta | None
) -> None:
    """Count a failed attempt: retry after `retry_in`, or park the row when it is None."""
    values: dict[str, Any] = {"attempts": row.attempts + 1, "last_error": error[:2000]}
    if retry_in is None:
        values["parked_at"] = func.now()
    else:
        values["available_at"] = func.now() + retry_in
    await conn.execute(update(outbox).where(outbox.c.id == row.id).values(**values))


async def stats(engine: AsyncEngine) -> OutboxStats:
    async with engine.connect() as conn:
        unpublished = (
            await conn.execute(
                text(
                    "SELECT count(*), min(created_at) FROM outbox "
                    "WHERE published_at IS NULL AND parked_at IS NULL"
                )
            )
        ).one()
        parked = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"))
        ).scalar_one()
        published = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))
        ).scalar_one()
    return OutboxStats(unpublished[0], unpublished[1], parked, published)


async def retry_parked(engine: AsyncEngine, channel: str = DEFAULT_CHANNEL) -> int:
    """Put every parked row back in line with a fresh attempt count; return how many."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(outbox)
            .where(outbox.c.parked_at.is_not(None))
            .values(parked_at=None, attempts=0, available_at=func.now(), last_error=None)
        )
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
    return int(result.rowcount)


async def events_of(
    engine: AsyncEngine, order_id: UUID, *, before_version: int | None, limit: int
) -> list[Envelope]:
    """One order's events, newest first: the history when the read model cannot answer."""
    query = select(outbox.c.payload).where(outbox.c.order_id == order_id)
    if before_version is not None:
        query = query.where(outbox.c.order_version < before_version)
    query = query.order_by(outbox.c.order_version.desc()).limit(limit)
    async with engine.connect() as conn:
        return [row.payload for row in (await conn.execute(query)).all()]


async def scan(engine: AsyncEngine, *, batch_size: int = 500) -> AsyncIterator[list[Envelope]]:
    """Every event ever committed, oldest first, in batches (replay)."""
    after = 0
    while True:
        query = (
            select(outbox.c.id, outbox.c.payload)
            .where(outbox.c.id > after)
            .order_by(outbox.c.id)
            .limit(batch_size)
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        yield [row.payload for row in rows]
        after = rows[-1].id


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


class PostgresEventLog:
    """The read side's `EventLog` port: the outbox as the log of every committed event."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def events_of(
        self, order_id: UUID, *, before_version: int | None, limit: int
    ) -> list[Envelope]:
        return await events_of(self._engine, order_id, before_version=before_version, limit=limit)

    async def scan(self, *, batch_size: int = 500) -> AsyncIterator[list[Envelope]]:
        async for batch in scan(self._engine, batch_size=batch_size):
            yield batch

    async def count(self) -> int:
        return await count(self._engine)
