"""`orderline backup`, `restore`, `outbox prune`: backups of the DynamoDB tables and retention."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres import retention as store
from orderline.bootstrap import TOOL_POOL_SIZE, open_dynamodb, open_engine, retention_policy
from orderline.config import Settings
from orderline.ops.bulk.backup import (
    STATE,
    BackupError,
    BackupOptions,
    BackupResult,
    list_tables,
    plan_backup,
    run_backup,
)
from orderline.ops.bulk.dynamodb_http import WireError, open_wire
from orderline.ops.bulk.files import CorruptBackup
from orderline.ops.bulk.manifest import READ_MODEL_NAMES, Manifest, selected
from orderline.ops.bulk.restore import RestoreError, RestoreOptions, RestoreResult, run_restore
from orderline.ops.table_copy.migrate import (
    MigrateOptions,
    MigrateResult,
    ensure_target,
    migrate,
)
from orderline.readmodel.table_migration import load_transform
from orderline.workers.retention import PruneReport, prune

from .app import app, outbox_app
from .common import fail, load_settings, progress_bar, services, with_engine
from .counters import Bars, rebuild_under, summary

TablesOption = Annotated[
    list[str] | None,
    typer.Option("--tables", help="Glob on table names, with or without the prefix; repeatable."),
]


@app.command("backup")
def backup(
    tables: TablesOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Backup folder (default backups/<prefix><UTC time>).")
    ] = None,
    segments: Annotated[int, typer.Option(min=1, max=1000, help="Parallel scan segments.")] = 8,
    max_rcu: Annotated[
        float | None, typer.Option(help="Read capacity units per second at most (all scans).")
    ] = None,
) -> None:
    """Back up every table of the prefix to a folder: manifest.json and DynamoDB-JSON lines.

    Parallel scan, throttling retried, resumable: run it again with the same --out after a
    crash and only unfinished segments are scanned. Read-model backups record the outbox
    position they are consistent with (retention never prunes past it).

    Example: orderline backup --out backups/nightly --segments 16 --max-rcu 2000
    """
    settings = load_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out or Path("backups") / f"{settings.table_prefix}{stamp}"
    options = BackupOptions(folder, settings.table_prefix, tables or None, segments, max_rcu)
    started = time.perf_counter()
    result = _backup_with_services(settings, options)
    seconds = time.perf_counter() - started
    position = result.manifest.outbox_position
    typer.echo(
        f"backed up {result.items} items of {len(result.manifest.tables)} tables to {folder} in "
        f"{seconds:.1f} s ({result.items / max(seconds, 1e-9):.0f} items/s; "
        f"{result.resumed_segments} segments resumed, {result.retries} retries)"
        + (f"; consistent with outbox position {position}" if position is not None else "")
    )


def _backup_with_services(settings: Settings, options: BackupOptions) -> BackupResult:
    folder = options.out
    with services(settings, postgres=False, dynamodb=True) as resolved:
        # PostgreSQL only for read-model tables (their outbox position; the backup's record)
        needs_postgres = asyncio.run(_selects_read_model(resolved, options))
        with (
            services(resolved, postgres=True, dynamodb=False)
            if needs_postgres
            else nullcontext(resolved)
        ) as full:
            try:
                result: BackupResult | str = asyncio.run(_backup(full, options))
            except (BackupError, CorruptBackup, WireError) as exc:
                result = f"backup to {folder} stopped: {exc} (run it again with --out {folder})"
    if isinstance(result, str):
        fail(result)
    return result


@app.command("restore")
def restore(
    source: Annotated[Path, typer.Argument(help="A backup folder (with manifest.json).")],
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Restore under this table prefix (default: the backup's, which must then be "
            "under ORDERLINE_TABLE_PREFIX)."
        ),
    ] = None,
    tables: TablesOption = None,
    max_wcu: Annotated[
        float | None, typer.Option(help="Write capacity units per second at most.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Delete and recreate tables that exist.")
    ] = False,
) -> None:
    """Restore a backup: verify every file first, create the tables, write, compare counts.

    Refuses a non-empty table unless --overwrite; exits 1 on a corrupt file or a count that
    differs. The manifest is not trusted: files only inside the folder, CreateTable parameters
    only those a backup writes, tables only under ORDERLINE_TABLE_PREFIX unless --prefix names
    where. Resumable: run the same command again after a crash. Counter items are not restored
    but recounted from the restored history at the end (as `counters rebuild`).

    Example: orderline restore backups/nightly --prefix orderline-restored-
    """
    settings = load_settings()
    options = RestoreOptions(
        source, prefix, tables or None, max_wcu, overwrite, configured_prefix=settings.table_prefix
    )
    started = time.perf_counter()
    with services(settings, postgres=False, dynamodb=True) as settings:
        try:
            result: RestoreResult | tuple[str, int] = asyncio.run(_restore(settings, options))
        except (CorruptBackup, RestoreError) as exc:
            result = (str(exc), 1)
        except WireError as exc:
            result = (f"restore stopped: {exc} (run the same command again to resume)", 2)
    if isinstance(result, tuple):
        fail(*result)
    seconds = time.perf_counter() - started
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(
        f"restored {result.items} items into {len(result.tables)} tables in {seconds:.1f} s "
        f"({result.items / max(seconds, 1e-9):.0f} items/s){'; resumed' if result.resumed else ''};"
        f" counts verified: {', '.join(f'{n} {c}' for n, c in result.tables.items())}"
    )
    if result.counters is not None:
        typer.echo(f"counters: {result.counters}")


@outbox_app.command("prune")
def outbox_prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; delete nothing.")] = False,
) -> None:
    """Delete published outbox rows past retention (never past the newest verified backup's
    outbox position) and expired idempotency keys, in small batches.

    Example (beside `make run`): orderline outbox prune --dry-run
    """
    with services(load_settings(), postgres=True, dynamodb=False) as settings:
        report = asyncio.run(
            with_engine(
                settings, lambda engine: prune(engine, retention_policy(settings), dry_run=dry_run)
            )
        )
    typer.echo(_prune_summary(report))


def _prune_summary(report: PruneReport) -> str:
    verb = "would prune" if report.dry_run else "pruned"
    if report.backup_position is None:
        kept = "no outbox rows (no verified read-model backup yet: run `orderline backup`)"
    else:
        kept = (
            f"{report.outbox_rows} outbox rows (published before {report.cutoff:%Y-%m-%d %H:%M}"
            f" UTC, at or below position {report.backup_position} of {report.backup_location})"
        )
    oldest = f"{report.oldest_kept:%Y-%m-%d %H:%M:%S} UTC" if report.oldest_kept else "none"
    expire = "would expire" if report.dry_run else "expired"
    keys = f"{expire} {report.idempotency_keys} idempotency keys"
    return f"{verb} {kept}; {keys}; oldest row kept: {oldest}"


async def _selects_read_model(settings: Settings, options: BackupOptions) -> bool:
    state = options.out / STATE
    if state.exists():
        return any(table.read_model for table in Manifest.load(state).tables)
    async with open_dynamodb(settings) as client:
        names = await list_tables(client, options.prefix)
    return any(
        selected(name[len(options.prefix) :], name, options.patterns)
        and name[len(options.prefix) :] in READ_MODEL_NAMES
        for name in names
    )


async def _backup(settings: Settings, options: BackupOptions) -> BackupResult:
    """The backup; with PostgreSQL configured, its outbox position recorded beside it."""
    engines: AbstractAsyncContextManager[AsyncEngine | None] = (
        open_engine(settings, pool_size=TOOL_POOL_SIZE) if settings.database_url else nullcontext()
    )
    async with engines as engine, open_dynamodb(settings) as client, open_wire(settings) as wire:
        position = (lambda: store.outbox_position(engine)) if engine else None
        plan, _ = await plan_backup(client, options, position)
        with progress_bar("backing up items", None) as advance:
            result = await run_backup(wire, plan, options, advance)
        result.retries = wire.stats.retries
        read_model = [table for table in plan.tables if table.read_model]
        if engine is not None and plan.outbox_position is not None and read_model:
            await store.record_backup(
                engine,
                location=str(options.out.resolve()),
                table_prefix=options.prefix,
                position=plan.outbox_position,
                items=sum(table.items for table in read_model),
                tables=[table.base_name for table in read_model],
            )
        return result


async def _restore(settings: Settings, options: RestoreOptions) -> RestoreResult:
    async with open_dynamodb(settings) as client, open_wire(settings) as wire:

        async def counters(prefix: str, bars: Bars | None) -> str:
            """Counter items are not restored: recounted from the restored history."""
            try:
                return summary(await rebuild_under(settings, client, prefix, bars))
            except ValueError as exc:  # a history table without a stream (an older backup)
                return f"counters not rebuilt ({exc}): enable its stream, then `counters rebuild`"

        with phases() as bar:
            return await run_restore(client, wire, options, bar, counters)


@contextmanager
def phases() -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """One progress bar per phase; opening the next closes the previous (one live display)."""
    stack = ExitStack()

    def open_bar(label: str, total: int | None) -> Callable[[int], None]:
        stack.close()
        return stack.enter_context(progress_bar(label, total))

    try:
        yield open_bar
    finally:
        stack.close()


@app.command("migrate-table")
def migrate_table(
    source: Annotated[str, typer.Argument(help="Source table, with or without the prefix.")],
    target: Annotated[
        str, typer.Argument(help="Target table (created like the source if missing).")
    ],
    transform: Annotated[
        str | None, typer.Option(help="module:function from a DynamoDB-JSON item to one (or None).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Scan and transform; write nothing.")
    ] = False,
    segments: Annotated[int, typer.Option(min=1, max=1000, help="Parallel scan segments.")] = 8,
    max_rcu: Annotated[float | None, typer.Option(help="Read capacity units per second.")] = None,
    max_wcu: Annotated[float | None, typer.Option(help="Write capacity units per second.")] = None,
) -> None:
    """Copy a table into another through a transform: parallel scan, batch writes, resumable
    (a checkpoint per segment in the data dir), rate limited; compares counts at the end.

    Example: orderline migrate-table order-status order-status-copy --segments 16 --max-wcu 500
    """
    settings = load_settings()
    try:
        function = load_transform(transform)
    except (ImportError, ValueError) as exc:
        fail(f"--transform: {exc}")
    src, dst = (_full(settings, name) for name in (source, target))
    checkpoint = settings.data_dir / "migrate-table" / f"{src}__{dst}.json"
    options = MigrateOptions(src, dst, checkpoint, function, segments, max_rcu, max_wcu, dry_run)
    with services(settings, postgres=False, dynamodb=True) as resolved:
        try:
            outcome: MigrateResult | str = asyncio.run(_migrate(resolved, options))
        except (WireError, ValueError) as exc:
            outcome = f"migrate-table stopped: {exc} (run the same command again to resume)"
    if isinstance(outcome, str):
        fail(outcome)
    _migrate_summary(options, outcome)


def _full(settings: Settings, name: str) -> str:
    return name if name.startswith(settings.table_prefix) else settings.table_prefix + name


def _migrate_summary(options: MigrateOptions, result: MigrateResult) -> None:
    if options.dry_run:
        for sample in result.samples:
            typer.echo(orjson.dumps(sample).decode())
        typer.echo(
            f"dry run: {result.scanned} items scanned, "
            f"{result.scanned - result.skipped} would be written, {result.skipped} left out"
        )
        return
    typer.echo(
        f"migrated {result.written} of {result.scanned} items from {options.source} to "
        f"{options.target} ({result.skipped} left out); counts: source {result.source_count}, "
        f"target {result.target_count}"
    )
    if result.target_count != (result.source_count or 0) - result.skipped:
        fail("count mismatch between source and target (a live source keeps changing)", code=1)


async def _migrate(settings: Settings, options: MigrateOptions) -> MigrateResult:
    async with open_dynamodb(settings) as client, open_wire(settings) as wire:
        await ensure_target(client, options.source, options.target)
        with progress_bar("migrating items", None) as advance:
            return await migrate(wire, options, advance)
