"""Maintenance: configuration, migrations, the outbox, replaying and reconciling the read model."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated

import typer

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.postgres import outbox
from orderline.adapters.postgres.migrate import current_revision, upgrade
from orderline.adapters.postgres.queries import PostgresOrderQueries
from orderline.bootstrap import (
    TOOL_POOL_SIZE,
    build_projector,
    build_reconciler,
    open_dynamodb,
    open_engine,
)
from orderline.config import Settings
from orderline.readmodel import rebuild
from orderline.readmodel.rebuild import ReplayResult
from orderline.streams import recount
from orderline.workers.retention import history_warning

from .app import app, db_app, outbox_app
from .common import configure_logging, fail, load_settings, progress_bar, services, with_engine

COUNTER_LAG_SECONDS = 2.0  # how long the aggregator may take to count an entry


@app.command("config")
def show_config() -> None:
    """Print the effective configuration, secrets masked.

    Example: ORDERLINE_PORT=9000 orderline config
    """
    for name, value in load_settings().masked().items():
        typer.echo(f"ORDERLINE_{name.upper():<26} {value}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (uses the embedded PostgreSQL when none is configured).

    Example: ORDERLINE_DATABASE_URL=postgresql://app@db/orders orderline db upgrade
    """
    settings = load_settings()
    configure_logging(settings)
    with services(settings, postgres=True, dynamodb=False) as resolved:
        revision = asyncio.run(_upgrade(resolved))
    typer.echo(f"database at revision {revision}")


@outbox_app.command("status")
def outbox_status() -> None:
    """Backlog, age of the oldest unpublished event, parked and published rows.

    Example (beside `make run`): orderline outbox status
    """
    with services(load_settings(), postgres=True, dynamodb=False) as settings:
        stats = asyncio.run(with_engine(settings, outbox.stats))
    age = "-"
    if stats.oldest_unpublished is not None:
        age = f"{(datetime.now(UTC) - stats.oldest_unpublished).total_seconds():.1f}s"
    typer.echo(f"backlog:            {stats.backlog}")
    typer.echo(f"oldest unpublished: {age}")
    typer.echo(f"parked:             {stats.parked}")
    typer.echo(f"published:          {stats.published}")


@outbox_app.command("retry-parked")
def outbox_retry_parked() -> None:
    """Put parked rows back in line (after fixing what made them fail).

    Example: orderline outbox retry-parked
    """
    with services(load_settings(), postgres=True, dynamodb=False) as settings:
        count = asyncio.run(with_engine(settings, outbox.retry_parked))
    typer.echo(f"{count} parked rows queued again")


@app.command()
def replay(
    prefix: Annotated[
        str | None,
        typer.Option(help="Rebuild into tables with this prefix (created when missing)."),
    ] = None,
) -> None:
    """Rebuild the read model from every event in the outbox (duplicates are no-ops).

    Example: orderline replay --prefix orderline-v2-
    """
    settings = load_settings()
    target = settings.table_prefix if prefix is None else prefix
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,200}", target):
        fail(f"invalid table prefix {target!r}")
    with services(settings, postgres=True, dynamodb=True) as resolved:
        result = asyncio.run(_replay(resolved, target))
    typer.echo(
        f"replayed {result.events} events into {target}*: {result.applied} applied, "
        f"{result.duplicates} already there, {result.rejected} rejected"
    )
    if result.rejected:
        raise typer.Exit(1)


@app.command()
def reconcile(
    repair: Annotated[
        bool, typer.Option("--repair", help="Overwrite drifted items with PostgreSQL's state.")
    ] = False,
) -> None:
    """Compare every order in PostgreSQL with the read model, and the counters with a recount of
    the history table; report drift by kind (exit 1). `--repair` fixes order items; counters
    are repaired by `orderline counters rebuild`.

    Example (beside `make run`): orderline reconcile --repair
    """
    with services(load_settings(), postgres=True, dynamodb=True) as settings:
        report, counters = asyncio.run(_reconcile(settings, repair))
    typer.echo(f"checked {report.orders} orders: {len(report.drifts)} drifted items")
    for kind, count in sorted(report.by_kind.items()):
        typer.echo(f"  {kind}: {count}")
    for drift in report.drifts[:20]:
        typer.echo(f"  {drift.order_id} {drift.table} {drift.kind}: {drift.detail}")
    typer.echo(f"counters: {len(counters)} items differ from a recount of the history table")
    for difference in counters[:20]:
        typer.echo(f"  {difference}")
    if counters:
        typer.echo("  repair them with: orderline counters rebuild")
    if repair:
        typer.echo(f"repaired {report.repaired} items")
    if (report.drifts and not repair) or counters:
        raise typer.Exit(1)


async def _replay(settings: Settings, prefix: str) -> ReplayResult:
    async with (
        open_engine(settings, pool_size=TOOL_POOL_SIZE) as engine,
        open_dynamodb(settings) as client,
    ):
        await ensure_tables(client, prefix)
        projector = build_projector(client, settings, prefix)
        warning = await history_warning(engine, settings.table_prefix)
        if warning:
            typer.echo(f"warning: {warning}", err=True)
        total = await outbox.count(engine)
        with progress_bar("replaying events", total) as advance:
            events = outbox.PostgresEventLog(engine)
            return await rebuild.replay(events, projector, progress=advance)


async def _reconcile(
    settings: Settings, repair: bool
) -> tuple[rebuild.ReconcileReport, list[recount.Difference]]:
    async with open_engine(settings, pool_size=TOOL_POOL_SIZE) as engine:
        total = await PostgresOrderQueries(engine).count()
        async with open_dynamodb(settings) as client:
            reconciler = build_reconciler(settings, engine, client)
            with progress_bar("checking orders", total) as advance:
                report = await reconciler.run(repair=repair, progress=advance)
            return report, await _counter_differences(client, settings)


async def _counter_differences(
    client: DynamoDBClient, settings: Settings
) -> list[recount.Difference]:
    """Counter items that differ from a recount, twice in a row (the first time may catch
    entries the aggregator is counting right now)."""
    prefix, shards = settings.table_prefix, settings.counter_shards
    differences = await recount.compare(client, prefix, shards)
    if differences:
        await asyncio.sleep(COUNTER_LAG_SECONDS)
        differences = await recount.compare(client, prefix, shards)
    return differences


async def _upgrade(settings: Settings) -> str | None:
    async with open_engine(settings, pool_size=1) as engine:
        await upgrade(engine)
        return await current_revision(engine)
