"""Zero-downtime migration of a live table (seed 002's four phases) as a persisted state machine.

    dual-write -> backfill -> read-new -> cutover        (rollback from any phase before cutover)

State lives in PostgreSQL (`table_migrations`): every process already has it (API, relay, Kafka
projector), a phase change is one conditional UPDATE (`WHERE phase = :expected`), and its history
is kept beside the outbox it must stay consistent with. `LiveRouter` (the `TableRouter` of every
process) re-reads it every `poll_seconds`, so running processes learn a phase without restart;
`advance` waits `grace_seconds` (more than two polls) after a phase change before relying on it.

| phase       | projector writes            | reads |
|-------------|-----------------------------|-------|
| dual-write  | old, new (transformed)      | old   |
| backfill    | old, new; old -> new copied | old   |
| read-new    | old, new                    | new   |
| cutover     | new                         | new   |
| rolled-back | old                         | old   |

The backfill writes each item with `attribute_not_exists(orderId) OR version < :v`, so it never
overwrites a newer dual-written item ("newer version wins").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.tables import table_migrations
from orderline.readmodel.routing import Target

from .migrate import MigrateOptions, MigrateResult, ensure_target, load_transform, migrate
from .scan import count_items
from .wire import Wire

log = logging.getLogger(__name__)
PHASES = ("dual-write", "backfill", "read-new", "cutover")
ACTIVE = frozenset(PHASES)
NEXT = {"dual-write": "backfill", "backfill": "read-new", "read-new": "cutover"}
WRITES_NEW = frozenset({"dual-write", "backfill", "read-new", "cutover"})
WRITES_OLD = frozenset({"dual-write", "backfill", "read-new", "rolled-back"})
READS_NEW = frozenset({"read-new", "cutover"})


class MigrationError(Exception):
    """A transition that is not allowed, or a migration that does not exist."""


@dataclass(frozen=True)
class LiveMigration:
    name: str
    source: str
    target: str
    transform: str
    phase: str
    backfilled: int
    history: list[dict[str, Any]]
    updated_at: datetime


async def start(
    engine: AsyncEngine, client: Any, name: str, source: str, target: str, transform: str
) -> None:
    """Create the new table (like the old) and enter dual-write."""
    load_transform(transform)  # fails now rather than in every process
    await ensure_target(client, source, target)
    async with engine.begin() as conn:
        active = await conn.execute(
            select(table_migrations.c.name).where(
                table_migrations.c.source == source, table_migrations.c.phase.in_(ACTIVE)
            )
        )
        if (found := active.scalar()) is not None:
            raise MigrationError(f"{source} is already being migrated by {found!r}")
        await conn.execute(
            insert(table_migrations).values(
                name=name,
                source=source,
                target=target,
                transform=transform,
                phase="dual-write",
                backfilled=0,
                history=[{"phase": "dual-write", "at": time.time()}],
                updated_at=func.now(),
            )
        )


async def get(engine: AsyncEngine, name: str) -> LiveMigration:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(table_migrations).where(table_migrations.c.name == name))
        ).first()
    if row is None:
        raise MigrationError(f"no migration named {name!r}")
    return LiveMigration(**row._mapping)


async def move(
    engine: AsyncEngine, name: str, expected: str, phase: str, backfilled: int | None = None
) -> None:
    """expected -> phase, or MigrationError when another operator moved it meanwhile."""
    values: dict[str, Any] = {
        "phase": phase,
        "updated_at": func.now(),
        "history": table_migrations.c.history.op("||")(
            func.jsonb_build_array(func.jsonb_build_object("phase", phase, "at", time.time()))
        ),
    }
    if backfilled is not None:
        values["backfilled"] = backfilled
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table_migrations)
            .where(table_migrations.c.name == name, table_migrations.c.phase == expected)
            .values(**values)
        )
    if result.rowcount != 1:
        raise MigrationError(f"{name} is no longer in phase {expected}")


def next_phase(current: str) -> str:
    if current not in NEXT:
        raise MigrationError(f"nothing follows phase {current}")
    return NEXT[current]


async def rollback(engine: AsyncEngine, name: str) -> str:
    migration = await get(engine, name)
    if migration.phase not in ("dual-write", "backfill", "read-new"):
        raise MigrationError(
            f"{name} is in phase {migration.phase}: after cutover the old table no longer "
            "receives writes; migrate back with a new migration instead"
        )
    await move(engine, name, migration.phase, "rolled-back")
    return migration.phase


class LiveRouter:
    """The TableRouter of a process: the `order-status` routing of the active migration."""

    def __init__(self, engine: AsyncEngine, status_table: str, poll_seconds: float = 1.0) -> None:
        self._engine = engine
        self._table = status_table
        self.poll_seconds = poll_seconds
        self._writes: Sequence[Target] = (Target(status_table),)
        self._read = Target(status_table)
        self._at = float("-inf")
        self._pending: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self._at = time.monotonic()
        try:
            migration = await self._current()
        except Exception as exc:  # PostgreSQL away: keep the last known routing
            log.debug("migration state not read: %s", exc)
            return
        old = Target(self._table)
        if migration is None:
            self._writes, self._read = (old,), old
            return
        new = Target(migration.target, load_transform(migration.transform))
        phase = migration.phase
        self._writes = tuple([old] * (phase in WRITES_OLD) + [new] * (phase in WRITES_NEW))
        self._read = new if phase in READS_NEW else old

    async def _current(self) -> LiveMigration | None:
        query = (
            select(table_migrations)
            .where(table_migrations.c.source == self._table)
            .where(table_migrations.c.phase.in_(ACTIVE))
            .order_by(table_migrations.c.updated_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else LiveMigration(**row._mapping)

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._at >= self.poll_seconds:
            await self.refresh()

    def status_writes(self) -> Sequence[Target]:
        return self._writes

    def status_read(self) -> Target:
        if time.monotonic() - self._at >= self.poll_seconds and (
            self._pending is None or self._pending.done()
        ):
            self._pending = asyncio.get_running_loop().create_task(self.refresh())
        return self._read


@dataclass(frozen=True)
class Advanced:
    previous: str
    phase: str
    backfill: MigrateResult | None = None


async def advance(
    engine: AsyncEngine,
    client: Any,
    wire: Wire,
    name: str,
    *,
    checkpoint_dir: Path,
    grace_seconds: float,
    progress: Callable[[int], None] | None = None,
) -> Advanced:
    """One step forward. Into `backfill`: wait until every process dual-writes, then copy.
    Into `read-new`: only once the new table holds at least every item of the old."""
    migration = await get(engine, name)
    phase = next_phase(migration.phase)
    if phase == "backfill":
        await ensure_target(client, migration.source, migration.target)
        await move(engine, name, migration.phase, phase)
        await asyncio.sleep(grace_seconds)  # every process has seen dual-write by now
        result = await backfill(wire, migration, checkpoint_dir, progress)
        await record_backfill(engine, name, result.written)
        return Advanced(migration.phase, phase, result)
    if phase == "read-new":
        old, new = await asyncio.gather(
            count_items(wire, migration.source), count_items(wire, migration.target)
        )
        if new < old:
            raise MigrationError(f"{migration.target} has {new} items, {migration.source} {old}")
    await move(engine, name, migration.phase, phase)
    await asyncio.sleep(grace_seconds)
    return Advanced(migration.phase, phase)


async def backfill(
    wire: Wire,
    migration: LiveMigration,
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


async def record_backfill(engine: AsyncEngine, name: str, written: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(table_migrations)
            .where(table_migrations.c.name == name)
            .values(backfilled=written, updated_at=func.now())
        )
