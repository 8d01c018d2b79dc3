"""Retention in PostgreSQL: verified read-model backups, pruning the outbox, expiring keys.

The outbox position of a backup is the highest id P such that every outbox row with id <= P was
published before the backup's scan began; a restore of that backup plus a replay of the rows
after P rebuilds the read model. Pruning therefore never removes a row above the position of the
newest verified backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import idempotency_keys, outbox, outbox_retention, read_model_backups


@dataclass(frozen=True)
class BackupRecord:
    location: str
    table_prefix: str
    outbox_position: int
    items: int
    verified_at: datetime


async def outbox_position(engine: AsyncEngine) -> int:
    """Every outbox row up to this id is published (parked and pending rows hold it back)."""
    query = text(
        "SELECT coalesce((SELECT min(id) - 1 FROM outbox WHERE published_at IS NULL),"
        " (SELECT max(id) FROM outbox), 0)"
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def record_backup(
    engine: AsyncEngine,
    *,
    location: str,
    table_prefix: str,
    position: int,
    items: int,
    tables: list[str],
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(read_model_backups).values(
                location=location,
                table_prefix=table_prefix,
                outbox_position=position,
                items=items,
                tables=tables,
                verified_at=func.now(),
            )
        )


async def newest_backup(engine: AsyncEngine, table_prefix: str) -> BackupRecord | None:
    """The verified backup of this prefix's read model that covers the most of the outbox."""
    query = (
        select(read_model_backups)
        .where(read_model_backups.c.table_prefix == table_prefix)
        .order_by(read_model_backups.c.outbox_position.desc(), read_model_backups.c.id.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return BackupRecord(
        row.location, row.table_prefix, row.outbox_position, row.items, row.verified_at
    )


def _prunable(before: datetime, through: int) -> list[Any]:
    return [
        outbox.c.id <= through,
        outbox.c.published_at.is_not(None),
        outbox.c.created_at < before,
    ]


async def count_prunable(engine: AsyncEngine, *, before: datetime, through: int) -> int:
    query = select(func.count()).select_from(outbox).where(*_prunable(before, through))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def prune_outbox_batch(
    engine: AsyncEngine, *, before: datetime, through: int, batch: int
) -> int:
    """Delete up to `batch` prunable rows, lowest ids first; record how far pruning went."""
    chosen = (
        select(outbox.c.id).where(*_prunable(before, through)).order_by(outbox.c.id).limit(batch)
    )
    async with engine.begin() as conn:
        deleted = (
            (
                await conn.execute(
                    delete(outbox)
                    .where(outbox.c.id.in_(chosen.scalar_subquery()))
                    .returning(outbox.c.id)
                )
            )
            .scalars()
            .all()
        )
        if deleted:
            statement = upsert(outbox_retention).values(
                id=1,
                pruned_through=max(deleted),
                pruned_rows=len(deleted),
                last_pruned_at=func.now(),
            )
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[outbox_retention.c.id],
                    set_={
                        "pruned_through": func.greatest(
                            outbox_retention.c.pruned_through, max(deleted)
                        ),
                        "pruned_rows": outbox_retention.c.pruned_rows + len(deleted),
                        "last_pruned_at": func.now(),
                    },
                )
            )
    return len(deleted)


async def pruned_through(engine: AsyncEngine) -> int:
    """The highest outbox id ever pruned (0: the outbox still holds every event)."""
    query = select(outbox_retention.c.pruned_through).where(outbox_retention.c.id == 1)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar() or 0)


async def oldest_kept(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.min(outbox.c.created_at)))).scalar()
    return value if isinstance(value, datetime) else None


async def count_expired_keys(engine: AsyncEngine, *, before: datetime) -> int:
    query = (
        select(func.count())
        .select_from(idempotency_keys)
        .where(idempotency_keys.c.created_at < before)
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def expire_keys_batch(engine: AsyncEngine, *, before: datetime, batch: int) -> int:
    keys = idempotency_keys.c
    chosen = (
        select(keys.principal, keys.key)
        .where(keys.created_at < before)
        .order_by(keys.created_at)
        .limit(batch)
    )
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(idempotency_keys).where(tuple_(keys.principal, keys.key).in_(chosen))
        )
    return int(result.rowcount)
