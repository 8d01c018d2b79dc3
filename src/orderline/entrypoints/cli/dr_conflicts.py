"""`orderline dr conflicts` and `dr watch-conflicts`: forum writes last writer wins threw away."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.tables import FORUM_CONFLICTS, STREAM_TABLES
from orderline.config import Settings
from orderline.regions import Region
from orderline.streams.conflicts import ConflictWatcher

from .common import configure_logging, fail, load_settings, progress_bar, services
from .dr import dr_app


@dr_app.command("conflicts")
def dr_conflicts(
    as_json: bool = typer.Option(False, "--json", help="One JSON document, both versions whole."),
) -> None:
    """List the forum items another region's write overwrote within the replication window,
    per region, with the version that was lost and the one that was kept (repair by hand).

    Example: orderline dr conflicts --json > conflicts.json
    """
    settings = load_settings()
    configure_logging(settings)
    with services(settings, postgres=False, dynamodb=True) as resolved:
        entries = asyncio.run(_entries(resolved))
    if as_json:
        typer.echo(json.dumps(entries, indent=2, default=str))
        return
    table = Table("region", "table", "key", "lost", "kept", "detected")
    for entry in entries:
        lost, kept = entry["lost"], entry["kept"]
        table.add_row(
            entry["region"],
            entry["table"],
            entry["key"],
            f"{entry['lostRegion']} {lost.get('updatedAt', '')}",
            f"{entry['keptRegion']} {kept.get('updatedAt', '')}",
            entry["detectedAt"],
        )
    Console().print(table)
    typer.echo(f"{len(entries)} conflicts in {len(resolved.regions().all)} regions")


async def _entries(settings: Settings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    table = FORUM_CONFLICTS.table_name(settings.table_prefix)
    for region in settings.regions().all:
        async with dynamodb_client(settings, region) as client:
            request: dict[str, Any] = {"TableName": table}
            while True:
                try:
                    page = await client.scan(**request)
                except ClientError as exc:  # no watcher ran in this region yet
                    if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                        raise
                    break
                found += [from_item(raw) for raw in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    unique = {str(entry["conflictId"]): entry for entry in found}  # replicated: listed once
    return sorted(
        unique.values(), key=lambda entry: (str(entry["detectedAt"]), entry["conflictId"])
    )


@dr_app.command("watch-conflicts")
def dr_watch_conflicts(
    window: float = typer.Option(
        5.0, min=0.01, max=3600, help="Seconds within which an overwrite is a conflict."
    ),
    once: bool = typer.Option(False, "--once", help="Read what the streams hold now, then stop."),
) -> None:
    """Follow every region's forum table streams and record each item overwritten by another
    region's write within WINDOW seconds (a metric, a log line, a `forum-conflicts` entry).

    Example: orderline dr watch-conflicts --window 5
    """
    settings = load_settings()
    configure_logging(settings)
    with services(settings, postgres=False, dynamodb=True) as resolved:
        try:
            _run_watch(resolved, window, once)
        except ValueError as exc:  # a forum table without a stream (global tables have one)
            fail(str(exc))


def _run_watch(settings: Settings, window: float, once: bool) -> None:
    regions = settings.regions().all
    if once:
        with progress_bar("reading forum streams", len(regions)) as advance:
            recorded = asyncio.run(_watch(settings, regions, window, advance))
        typer.echo(f"{recorded} conflicts recorded in {len(regions)} regions")
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(settings, regions, window, None))


async def _watch(
    settings: Settings, regions: tuple[Region, ...], window: float, advance: Any
) -> int:
    """Each region's watcher: caught up once (`advance` given), or run until interrupted."""

    async def one(region: Region) -> int:
        async with (
            dynamodb_client(settings, region) as client,
            streams_client(settings, region) as streams,
        ):
            prefix = settings.table_prefix
            await ensure_tables(client, prefix, (FORUM_CONFLICTS, *STREAM_TABLES))
            watcher = ConflictWatcher(client, streams, prefix, region.name, window=window)
            if advance is None:
                await watcher.run(asyncio.Event())
            else:
                await watcher.catch_up()
                advance(1)
            return watcher.recorder.recorded

    return sum(await asyncio.gather(*(one(region) for region in regions)))
