"""Which `order-status` table(s) the projector writes and the read path reads (TableRouter).

Normally one table. During a zero-downtime table migration (table_migration.py) the projector
writes the old and the new table (each item through the new schema's transform) and reads move
to the new table at the `read-new` phase; the router answers from a state it re-reads every
few seconds, so a running process follows the phases without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from orderline.adapters.dynamodb.codec import AttributeItem

Transform = Callable[[AttributeItem], AttributeItem | None]  # an item's new schema (None: skip)


@dataclass(frozen=True)
class Target:
    table: str
    transform: Transform | None = None  # on the DynamoDB-JSON item; None: as is

    def apply(self, item: AttributeItem) -> AttributeItem | None:
        return item if self.transform is None else self.transform(item)


class TableRouter(Protocol):
    async def refresh_if_stale(self) -> None:
        """Re-read the routing state when older than the poll interval (once per batch)."""

    def status_writes(self) -> Sequence[Target]:
        """Every table a status item is written to, with its transform."""

    def status_read(self) -> Target:
        """The table status reads (and fills) use; may refresh the state in the background."""


class StaticRouter:
    """One table, no migration."""

    def __init__(self, table: str) -> None:
        self._target = Target(table)

    async def refresh_if_stale(self) -> None:
        return None

    def status_writes(self) -> Sequence[Target]:
        return (self._target,)

    def status_read(self) -> Target:
        return self._target
