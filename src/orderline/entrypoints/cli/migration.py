"""`orderline migration start|advance|status|rollback NAME`: zero-downtime table migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.bootstrap import TOOL_POOL_SIZE, open_dynamodb, open_engine
from orderline.config import Settings
from orderline.ops.bulk.dynamodb_http import WireError, open_wire
from orderline.ops.table_copy import online_migration
from orderline.readmodel.table_migration import MigrationError

from .app import app
from .common import fail, load_settings, progress_bar, services

T = TypeVar("T")
migration_app = typer.Typer(
    help="Zero-downtime migration of a live table: dual-write, backfill, read-new, cutover.",
    no_args_is_help=True,
)
app.add_typer(migration_app, name="migration")
GRACE_SECONDS = 5.0  # > two polls of every process's router (1 s) plus a batch in flight


@migration_app.command("start")
def migration_start(
    name: Annotated[str, typer.Argument(help="A name for this migration.")],
    table: Annotated[str, typer.Option(help="Table to migrate (without prefix).")] = "order-status",
    to: Annotated[
        str, typer.Option("--to", help="New table (without prefix).")
    ] = "order-status-v2",
    transform: Annotated[
        str, typer.Option(help="module:function giving the new schema of an item.")
    ] = "orderline.ops.table_copy.transforms:order_status_v2",
) -> None:
    """Create the new table and enter dual-write: every process writes both within a second.

    Example: orderline migration start status-v2 --table order-status --to order-status-v2
    """

    async def action(
        settings: Settings, engine: AsyncEngine, client: DynamoDBClient, _: Any
    ) -> str:
        source, target = settings.table_prefix + table, settings.table_prefix + to
        await online_migration.start(engine, client, name, source, target, transform)
        return f"{name}: {source} -> {target}, phase dual-write"

    typer.echo(_run(action))


@migration_app.command("advance")
def migration_advance(name: Annotated[str, typer.Argument(help="The migration.")]) -> None:
    """Next phase: backfill (copies old -> new, newer version wins), read-new, cutover.

    Example: orderline migration advance status-v2
    """

    async def action(
        settings: Settings, engine: AsyncEngine, client: DynamoDBClient, wire: Any
    ) -> str:
        with progress_bar("backfilling items", None) as advance:
            step = await online_migration.advance(
                engine,
                client,
                wire,
                name,
                checkpoint_dir=settings.data_dir / "migrate-table",
                grace_seconds=GRACE_SECONDS,
                progress=advance,
            )
        done = f"{name}: {step.previous} -> {step.phase}"
        if step.backfill is not None:
            result = step.backfill
            done += f"; backfilled {result.written} items ({result.stale} already newer)"
        return done

    typer.echo(_run(action))


@migration_app.command("status")
def migration_status(name: Annotated[str, typer.Argument(help="The migration.")]) -> None:
    """Phase, tables, backfilled items and the history of phase changes.

    Example: orderline migration status status-v2
    """

    async def action(_: Settings, engine: Any, __: Any, ___: Any) -> str:
        found = await online_migration.get(engine, name)
        steps = " -> ".join(step["phase"] for step in found.history)
        return (
            f"{found.name}: {found.source} -> {found.target} ({found.transform}); phase "
            f"{found.phase}; backfilled {found.backfilled}; history {steps}"
        )

    typer.echo(_run(action))


@migration_app.command("rollback")
def migration_rollback(name: Annotated[str, typer.Argument(help="The migration.")]) -> None:
    """Back to the old table for reads and writes (any phase before cutover).

    Example: orderline migration rollback status-v2
    """

    async def action(_: Settings, engine: Any, __: Any, ___: Any) -> str:
        previous = await online_migration.rollback(engine, name)
        return f"{name}: {previous} -> rolled-back (reads and writes on the old table)"

    typer.echo(_run(action))


Action = Callable[[Settings, AsyncEngine, DynamoDBClient, Any], Awaitable[T]]


def _run(action: Action[str]) -> str:
    with services(load_settings(), postgres=True, dynamodb=True) as settings:
        try:
            return asyncio.run(_open(settings, action))
        except (MigrationError, WireError, ValueError, ImportError) as exc:
            problem = str(exc)
    fail(problem, code=1)


async def _open(settings: Settings, action: Action[T]) -> T:
    async with (
        open_engine(settings, pool_size=TOOL_POOL_SIZE) as engine,
        open_dynamodb(settings) as client,
        open_wire(settings) as wire,
    ):
        return await action(settings, engine, client, wire)
