"""The operator's steps of a zero-downtime table migration (`orderline migration ...`): start,
advance (the backfill copies old -> new), status, rollback.

The phases, and the router every process steers by them, are in readmodel/table_migration.py;
their state in PostgreSQL in adapters/postgres/table_migration_state.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.postgres.table_migration_state import PostgresMigrationStates
from orderline.readmodel.table_migration import (
    ROLLBACK_FROM,
    MigrationError,
    TableMigration,
    load_transform,
    next_phase,
)

from ..bulk.dynamodb_http import Wire
from ..bulk.scan import count_items
from .migrate import MigrateOptions, MigrateResult, ensure_target, migrate


async def start(
    engine: AsyncEngine, client: DynamoDBClient, name: str, source: str, target: str, transform: str
) -> None:
    """Create the new table (like the old) and enter dual-write."""
    load_transform(transform)  # fails now rather than in every process
    await ensure_target(client, source, target)
    await PostgresMigrationStates(engine).create(name, source, target, transform)


async def get(engine: AsyncEngine, name: str) -> TableMigration:
    return await PostgresMigrationStates(engine).get(name)


async def rollback(engine: AsyncEngine, name: str) -> str:
    states = PostgresMigrationStates(engine)
    migration = await states.get(name)
    if migration.phase not in ROLLBACK_FROM:
        raise MigrationError(
            f"{name} is in phase {migration.phase}: after cutover the old table no longer "
            "receives writes; migrate back with a new migration instead"
        )
    await states.move(name, migration.phase, "rolled-back")
    return migration.phase


@dataclass(frozen=True)
class Advanced:
    previous: str
    phase: str
    backfill: MigrateResult | None = None


async def advance(
    engine: AsyncEngine,
    client: DynamoDBClient,
    wire: Wire,
    name: str,
    *,
    checkpoint_dir: Path,
    grace_seconds: float,
    progress: Callable[[int], None] | None = None,
) -> Advanced:
    """One step forward. Into `backfill`: wait until every process dual-writes, then copy.
    Into `read-new`: only once the new table holds at least every item of the old."""
    states = PostgresMigrationStates(engine)
    migration = await states.get(name)
    phase = next_phase(migration.phase)
    if phase == "backfill":
        await ensure_target(client, migration.source, migration.target)
        await states.move(name, migration.phase, phase)
        await asyncio.sleep(grace_seconds)  # every process has seen dual-write by now
        result = await backfill(wire, migration, checkpoint_dir, progress)
        await states.record_backfill(name, result.written)
        return Advanced(migration.phase, phase, result)
    if phase == "read-new":
        old, new = await asyncio.gather(
            count_items(wire, migration.source), count_items(wire, migration.target)
        )
        if new < old:
            raise MigrationError(f"{migration.target} has {new} items, {migration.source} {old}")
    await states.move(name, migration.phase, phase)
    await asyncio.sleep(grace_seconds)
    return Advanced(migration.phase, phase)


async def backfill(
    wire: Wire,
    migration: TableMigration,
    checkpoint_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> MigrateResult:
    """Copy old -> new through the transform, each put conditional on a lower version."""
    options = MigrateOptions(
        migration.source,
        migration.target,
        checkpoint_dir / f"live-{migration.name}.json",
        load_transform(migration.transform),
        conditional=True,
        key="orderId",
    )
    return await migrate(wire, options, progress)
