"""The state of zero-downtime table migrations in PostgreSQL (`table_migrations`): one row per
migration, every phase change one conditional UPDATE, its history appended in the same
statement."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.readmodel.table_migration import ACTIVE, MigrationError, TableMigration

from .tables import table_migrations


class PostgresMigrationStates:
    """The `MigrationStates` of the table router, and the writes of the operator's steps."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, name: str, source: str, target: str, transform: str) -> None:
        """A new migration in dual-write, unless `source` is already being migrated."""
        async with self._engine.begin() as conn:
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

    async def get(self, name: str) -> TableMigration:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(table_migrations).where(table_migrations.c.name == name))
            ).first()
        if row is None:
            raise MigrationError(f"no migration named {name!r}")
        return TableMigration(**row._mapping)

    async def active(self, source: str) -> TableMigration | None:
        query = (
            select(table_migrations)
            .where(table_migrations.c.source == source)
            .where(table_migrations.c.phase.in_(ACTIVE))
            .order_by(table_migrations.c.updated_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else TableMigration(**row._mapping)

    async def move(
        self, name: str, expected: str, phase: str, backfilled: int | None = None
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
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table_migrations)
                .where(table_migrations.c.name == name, table_migrations.c.phase == expected)
                .values(**values)
            )
        if result.rowcount != 1:
            raise MigrationError(f"{name} is no longer in phase {expected}")

    async def record_backfill(self, name: str, written: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(table_migrations)
                .where(table_migrations.c.name == name)
                .values(backfilled=written, updated_at=func.now())
            )
