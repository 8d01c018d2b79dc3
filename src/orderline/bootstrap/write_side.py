"""The orders' write side: commands -> handlers -> the PostgreSQL unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.postgres.unit_of_work import PostgresUnitOfWork
from ..readmodel.write_through import WriteThrough
from ..service_layer.dispatcher import CommandDispatcher
from ..service_layer.handlers import HANDLERS, Clock

# With write-through projecting, the relay leaves a new row alone this long: the API is
# projecting it.
WRITE_THROUGH_HOLD = timedelta(milliseconds=250)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WriteSide:
    """Where commands go; `clock` is the time every handler is given."""

    commands: CommandDispatcher
    clock: Clock


def build_write_side(
    engine: AsyncEngine,
    *,
    clock: Clock,
    notify_channel: str,
    write_through: WriteThrough | None,
    hold: timedelta,
) -> WriteSide:
    """Commands -> handlers -> PostgreSQL unit of work; write-through after each commit (the
    relay holds new rows back only while write-through projects them)."""
    projects = write_through is not None and write_through.projects
    relay_hold = hold if projects else timedelta(0)
    commands = CommandDispatcher(
        handlers=HANDLERS,
        uow_factory=lambda: PostgresUnitOfWork(engine, notify_channel, relay_hold),
        dependencies={"clock": clock},
        after_commit=write_through.offer if write_through is not None else None,
    )
    return WriteSide(commands, clock)
