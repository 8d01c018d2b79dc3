"""`orderline tables backups …` and `tables pitr …`: DynamoDB's own backups and PITR."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.bootstrap import open_dynamodb
from orderline.config import Settings
from orderline.ops.bulk import native
from orderline.ops.bulk.backup import list_tables
from orderline.ops.bulk.manifest import selected

from .app import tables_app
from .common import fail, load_settings, services

T = TypeVar("T")
backups_app = typer.Typer(
    help="DynamoDB's on-demand backups (CreateBackup …).", no_args_is_help=True
)
pitr_app = typer.Typer(help="Point-in-time recovery (continuous backups).", no_args_is_help=True)
tables_app.add_typer(backups_app, name="backups")
tables_app.add_typer(pitr_app, name="pitr")
TablesOption = Annotated[
    list[str] | None, typer.Option("--tables", help="Glob on table names; repeatable.")
]


@backups_app.command("create")
def backups_create(
    tables: TablesOption = None,
    name: Annotated[str | None, typer.Option(help="Backup name (default: table + time).")] = None,
) -> None:
    """One on-demand backup per table of the prefix.

    Example: orderline tables backups create --tables 'order-*' --name before-migration
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    async def action(client: DynamoDBClient, prefix: str) -> list[native.BackupSummary]:
        names = await _tables_of(client, prefix, tables)
        return [await native.create_backup(client, n, name or f"{n}-{stamp}") for n in names]

    made = _run(action)
    for backup in made:
        typer.echo(f"{backup.table}: {backup.status} {backup.arn}")
    typer.echo(f"created {len(made)} backups")


@backups_app.command("list")
def backups_list() -> None:
    """On-demand backups of the prefix's tables.

    Example: orderline tables backups list
    """
    for backup in _run(native.list_backups):
        created = f"{backup.created:%Y-%m-%d %H:%M:%S}" if backup.created else "-"
        typer.echo(f"{backup.table} {backup.name} {backup.status} {created} {backup.arn}")


@backups_app.command("restore")
def backups_restore(
    arn: Annotated[str, typer.Argument(help="The backup's ARN (see `list`).")],
    target: Annotated[str, typer.Option("--to", help="New table name (must not exist).")],
) -> None:
    """Restore an on-demand backup into a new table.

    Example: orderline tables backups restore ARN --to orderline-order-status-restored
    """
    _run(lambda client, _: native.restore_backup(client, arn, target))
    typer.echo(f"restored into {target}")


@backups_app.command("delete")
def backups_delete(arn: Annotated[str, typer.Argument(help="The backup's ARN.")]) -> None:
    """Delete an on-demand backup.

    Example: orderline tables backups delete arn:aws:dynamodb:…/backup/0163…
    """
    _run(lambda client, _: native.delete_backup(client, arn))
    typer.echo(f"deleted {arn}")


@pitr_app.command("enable")
def pitr_enable(tables: TablesOption = None) -> None:
    """Turn on point-in-time recovery for the prefix's tables.

    Example: orderline tables pitr enable
    """

    async def action(client: DynamoDBClient, prefix: str) -> list[tuple[str, native.PitrStatus]]:
        names = await _tables_of(client, prefix, tables)
        return [(n, await native.enable_pitr(client, n)) for n in names]

    for table, status in _run(action):
        typer.echo(f"{table}: PITR {'ENABLED' if status.enabled else 'DISABLED'}")


@pitr_app.command("status")
def pitr_status(tables: TablesOption = None) -> None:
    """PITR state and restorable window of each table.

    Example: orderline tables pitr status
    """

    async def action(client: DynamoDBClient, prefix: str) -> list[tuple[str, native.PitrStatus]]:
        names = await _tables_of(client, prefix, tables)
        return [(n, await native.pitr_status(client, n)) for n in names]

    for table, status in _run(action):
        window = f", restorable {status.earliest} .. {status.latest}" if status.enabled else ""
        typer.echo(f"{table}: PITR {'ENABLED' if status.enabled else 'DISABLED'}{window}")


@pitr_app.command("restore")
def pitr_restore(
    table: Annotated[str, typer.Argument(help="Source table, with or without the prefix.")],
    to: Annotated[datetime, typer.Option("--to", help="Time to restore to (ISO 8601, UTC).")],
    target: Annotated[
        str | None, typer.Option(help="New table (default: <table>-pitr-<time>).")
    ] = None,
) -> None:
    """Restore a table as it was at a point in time, into a new table.

    Example: orderline tables pitr restore order-status --to 2026-01-15T14:30:00
    """
    when = to if to.tzinfo else to.replace(tzinfo=UTC)

    async def action(client: DynamoDBClient, prefix: str) -> str:
        source = table if table.startswith(prefix) else prefix + table
        name = target or f"{source}-pitr-{when:%Y%m%dT%H%M%S}"
        await native.restore_to_time(client, source, name, when)
        return name

    typer.echo(f"restored {table} as of {when.isoformat()} into {_run(action)}")


async def _tables_of(client: DynamoDBClient, prefix: str, patterns: list[str] | None) -> list[str]:
    names = await list_tables(client, prefix)
    return [name for name in names if selected(name[len(prefix) :], name, patterns)]


def _run(action: Callable[[DynamoDBClient, str], Awaitable[T]]) -> T:
    with services(load_settings(), postgres=False, dynamodb=True) as settings:
        try:
            return asyncio.run(_with_client(settings, action))
        except native.NotSupported as exc:
            unsupported = str(exc)
    # outside `services`, which would explain the ClientError behind it a second time
    fail(f"{unsupported} (DynamoDB Local has no backups or PITR; use `orderline backup`)")


async def _with_client(
    settings: Settings, action: Callable[[DynamoDBClient, str], Awaitable[T]]
) -> T:
    async with open_dynamodb(settings) as client:
        return await action(client, settings.table_prefix)
