"""Zero-downtime migration of a live table (seed 002's four phases): the phases, and the
`TableRouter` every process steers by them.

    dual-write -> backfill -> read-new -> cutover        (rollback from any phase before cutover)

State lives in PostgreSQL (`table_migrations`, adapters/postgres/table_migration_state.py):
every process already has it (API, relay, Kafka projector), a phase change is one conditional
UPDATE (`WHERE phase = :expected`), and its history is kept beside the outbox it must stay
consistent with. `PhasedTableRouter` (the `TableRouter` of every process) re-reads it every
`poll_seconds`, so running processes learn a phase without restart; the operator's steps
(ops/table_copy/online_migration.py) wait `grace_seconds` (more than two polls) after a phase
change before relying on it.

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
import importlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .routing import Target, Transform

log = logging.getLogger(__name__)
PHASES = ("dual-write", "backfill", "read-new", "cutover")
ACTIVE = frozenset(PHASES)
NEXT = {"dual-write": "backfill", "backfill": "read-new", "read-new": "cutover"}
WRITES_NEW = frozenset({"dual-write", "backfill", "read-new", "cutover"})
WRITES_OLD = frozenset({"dual-write", "backfill", "read-new", "rolled-back"})
READS_NEW = frozenset({"read-new", "cutover"})
ROLLBACK_FROM = frozenset({"dual-write", "backfill", "read-new"})
# Transforms named by their module before ops/ was split (issue 19); kept for one release so a
# migration stored with the old name, or a command line written with it, still loads.
MOVED_MODULES = {"orderline.ops.transforms": "orderline.ops.table_copy.transforms"}


class MigrationError(Exception):
    """A transition that is not allowed, or a migration that does not exist."""


@dataclass(frozen=True)
class TableMigration:
    name: str
    source: str
    target: str
    transform: str
    phase: str
    backfilled: int
    history: list[dict[str, Any]]
    updated_at: datetime


class MigrationStates(Protocol):
    async def active(self, source: str) -> TableMigration | None:
        """The migration of `source` in one of the active PHASES, if any."""


def next_phase(current: str) -> str:
    if current not in NEXT:
        raise MigrationError(f"nothing follows phase {current}")
    return NEXT[current]


def identity(item: dict[str, Any]) -> dict[str, Any] | None:
    return item


def load_transform(path: str | None) -> Transform:
    """`module:function`, a function from a DynamoDB-JSON item to one (or None: leave out)."""
    if not path:
        return identity
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"--transform must be module:function, not {path!r}")
    module = MOVED_MODULES.get(module, module)
    function = getattr(importlib.import_module(module), name, None)
    if not callable(function):
        raise ValueError(f"{path} is not a function")
    return function  # type: ignore[no-any-return]


class PhasedTableRouter:
    """The TableRouter of a process: the `order-status` routing of the active migration."""

    def __init__(
        self, states: MigrationStates, status_table: str, poll_seconds: float = 1.0
    ) -> None:
        self._states = states
        self._table = status_table
        self.poll_seconds = poll_seconds
        self._writes: Sequence[Target] = (Target(status_table),)
        self._read = Target(status_table)
        self._at = float("-inf")
        self._pending: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self._at = time.monotonic()
        try:
            migration = await self._states.active(self._table)
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
