"""`orderline forum …`: import json-server exports, seed the sample data, verify counts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.bootstrap import build_forum_store, open_dynamodb
from orderline.config import Settings
from orderline.forum import dynamo
from orderline.forum.importer import Importer, ImportResult
from orderline.forum.rows import KINDS, SourceInvalid, read_source
from orderline.forum.sample import SAMPLE
from orderline.forum.store import ForumStore

from .app import app
from .common import fail, load_settings, progress_bar, services

T = TypeVar("T")
forum_app = typer.Typer(
    help="The forum (DynamoDB is its database): import, seed, verify.", no_args_is_help=True
)
app.add_typer(forum_app, name="forum")
Directory = Annotated[
    Path, typer.Argument(exists=True, file_okay=False, help="Folder with users/, threads/, posts/.")
]


@forum_app.command("import")
def forum_import(
    directory: Directory,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; write nothing.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write every rejected row and the counts here (JSON).")
    ] = None,
) -> None:
    """Migrate json-server files DIR/users/db.json, DIR/threads/db.json, DIR/posts/db.json.

    Every row is checked with the API's rules; rejected rows are listed with their reason.
    Rows already in the tables are skipped, so running it again writes nothing.

    Example: orderline forum import ./export --report import-report.json
    """
    source = _source(directory)
    result = _on_forum(lambda store: Importer(store, progress_bar).run(source, dry_run=dry_run))
    _tell(result, report)


@forum_app.command("seed")
def forum_seed() -> None:
    """Write the sample data (3 users, 2 threads, 2 posts); safe to repeat.

    Example (beside `make run`): orderline forum seed
    """
    result = _on_forum(lambda store: Importer(store).run(SAMPLE))
    _tell(result, None)


@forum_app.command("verify")
def forum_verify(
    directory: Annotated[
        Path | None,
        typer.Argument(exists=True, file_okay=False, help="Source folder to compare with."),
    ] = None,
) -> None:
    """Count each forum table (paged Scan Select=COUNT, never ItemCount); with DIR, compare with
    the valid rows of its files and exit 1 on a mismatch.

    Example: orderline forum verify ./export
    """
    source = _source(directory) if directory is not None else None
    counts, expected = _on_forum(lambda store: _counts(store, source))
    mismatched = False
    for kind in KINDS:
        line = f"{kind}: {counts[kind]} items"
        if expected is not None:
            ok = counts[kind] == expected[kind]
            mismatched = mismatched or not ok
            line += f", source {expected[kind]} valid rows: {'ok' if ok else 'MISMATCH'}"
        typer.echo(line)
    if mismatched:
        raise typer.Exit(1)


async def _counts(
    store: ForumStore, source: dict[str, list[Any]] | None
) -> tuple[dict[str, int], dict[str, int] | None]:
    tables = store.tables
    counts = {
        "users": await dynamo.count(
            store.client,
            tables.users,
            filter_expression="attribute_exists(#e)",
            names={"#e": "email"},
        ),
        "threads": await dynamo.count(store.client, tables.threads),
        "posts": await dynamo.count(store.client, tables.posts),
    }
    if source is None:
        return counts, None
    planned = await Importer(store).run(source, dry_run=True)
    return counts, planned.valid


def _source(directory: Path) -> dict[str, list[Any]]:
    try:
        return read_source(directory)
    except SourceInvalid as exc:
        fail(str(exc))


def _tell(result: ImportResult, report: Path | None) -> None:
    for kind in KINDS:
        typer.echo(
            f"{kind}: {result.rows[kind]} rows, {result.valid[kind]} valid, "
            f"{result.written[kind]} written, {result.present[kind]} already there"
        )
    for rejected in result.rejected:
        where = f"{rejected.file}[{rejected.index}]" if rejected.index >= 0 else rejected.file
        typer.echo(f"rejected {where} id={rejected.id}: {rejected.reason}", err=True)
    if result.dry_run:
        typer.echo("dry run: nothing written")
    elif result.wrote_nothing:
        typer.echo("nothing to write: every valid row is already there")
    if report is not None:
        report.write_text(json.dumps(result.report(), indent=2))
        typer.echo(f"report: {report}")


def _on_forum(action: Callable[[ForumStore], Awaitable[T]]) -> T:
    with services(load_settings(), postgres=False, dynamodb=True) as settings:
        return asyncio.run(_with_store(settings, action))


async def _with_store(settings: Settings, action: Callable[[ForumStore], Awaitable[T]]) -> T:
    async with open_dynamodb(settings) as client:
        await ensure_tables(client, settings.table_prefix, FORUM_TABLES)
        return await action(build_forum_store(client, settings))
