"""Retention: the outbox is pruned only past the retention period and never past the outbox
position of the newest verified read-model backup; idempotency keys expire after their window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres import retention as store
from orderline.adapters.postgres.tables import idempotency_keys, outbox
from orderline.workers.retention import RetentionPolicy, history_warning, prune

NOW = datetime(2030, 1, 10, tzinfo=UTC)
POLICY = RetentionPolicy(outbox_days=7, idempotency_hours=24, batch_size=2, table_prefix="p-")


async def add_row(engine: AsyncEngine, age_days: float, published: bool) -> int:
    at = NOW - timedelta(days=age_days)
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(outbox)
            .values(
                event_id=uuid.uuid4(),
                order_id=uuid.uuid4(),
                order_version=1,
                event_type="OrderPlaced",
                payload={},
                created_at=at,
                available_at=at,
                published_at=at if published else None,
                attempts=0,
            )
            .returning(outbox.c.id)
        )
        return int(result.scalar_one())


async def ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars())


async def test_prune_respects_backup_position_and_retention_period(engine: AsyncEngine) -> None:
    old = [await add_row(engine, 10, published=True) for _ in range(5)]
    unpublished = await add_row(engine, 9, published=False)
    recent = await add_row(engine, 1, published=True)
    assert await store.outbox_position(engine) == unpublished - 1

    report = await prune(engine, POLICY, now=lambda: NOW)
    assert report.backup_position is None and report.outbox_rows == 0  # no backup: keep all
    assert await ids(engine) == [*old, unpublished, recent]

    await store.record_backup(
        engine, location="/b/1", table_prefix="p-", position=old[2], items=1, tables=["x"]
    )
    dry = await prune(engine, POLICY, dry_run=True, now=lambda: NOW)
    assert dry.outbox_rows == 3 and await ids(engine) == [*old, unpublished, recent]
    report = await prune(engine, POLICY, now=lambda: NOW)
    assert report.outbox_rows == 3  # old[0..2]; old[3], old[4] are past the backup's position
    assert await ids(engine) == [*old[3:], unpublished, recent]
    assert await store.pruned_through(engine) == old[2]

    await store.record_backup(
        engine, location="/b/2", table_prefix="p-", position=recent, items=1, tables=["x"]
    )
    report = await prune(engine, POLICY, now=lambda: NOW)
    # the unpublished row is never pruned; the recent one is inside the retention period
    assert report.outbox_rows == 2 and await ids(engine) == [unpublished, recent]
    assert report.backup_location == "/b/2"


async def test_idempotency_keys_expire_after_their_window(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for name, hours in (("old", 30), ("older", 50), ("fresh", 2)):
            await conn.execute(
                insert(idempotency_keys).values(
                    principal="someone",
                    key=name,
                    request_hash="h",
                    created_at=NOW - timedelta(hours=hours),
                )
            )
    report = await prune(engine, POLICY, now=lambda: NOW)
    assert report.idempotency_keys == 2
    async with engine.connect() as conn:
        left = (await conn.execute(select(idempotency_keys.c.key))).scalars().all()
    assert left == ["fresh"]


async def test_replay_is_told_when_the_outbox_lost_history(engine: AsyncEngine) -> None:
    assert await history_warning(engine, "p-") is None
    first = await add_row(engine, 10, published=True)
    await add_row(engine, 10, published=True)
    await store.record_backup(
        engine, location="/b/1", table_prefix="p-", position=first, items=1, tables=["x"]
    )
    await prune(engine, POLICY, now=lambda: NOW)
    warning = await history_warning(engine, "p-")
    assert warning is not None
    assert f"events up to id {first} were pruned" in warning and "/b/1" in warning
