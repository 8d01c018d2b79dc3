"""`orderline counters …`: the status counters counted from the history table's stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack

import typer

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import STREAM_TABLES, ReadModelTables
from orderline.bootstrap import open_dynamodb, open_streams
from orderline.config import Settings
from orderline.streams import recount

from .app import app
from .common import configure_logging, load_settings, progress_bar, services

counters_app = typer.Typer(
    help="Status counters and gauges (counted from the history table's stream).",
    no_args_is_help=True,
)
app.add_typer(counters_app, name="counters")
Bars = Callable[[str, int | None], Callable[[int], None]]


@counters_app.command("rebuild")
def counters_rebuild() -> None:
    """Recount the counters and gauges from the history table; counting resumes after it.

    The repair after an aggregator reported stream records lost (trimmed unread), or when
    `orderline reconcile` reports counter differences. Aggregators pause while it runs. An entry
    written during its scan may be missed: run it in a quiet moment, then `orderline reconcile`.

    Example (beside `make run`): orderline counters rebuild
    """
    settings = load_settings()
    configure_logging(settings)
    with services(settings, postgres=False, dynamodb=True) as resolved:
        result = asyncio.run(_rebuild(resolved))
    typer.echo(summary(result))


def summary(result: recount.RebuildResult) -> str:
    return (
        f"recounted {result.entries} history entries on {result.shards} shards: "
        f"{result.written} counter items rewritten, {result.deleted} removed"
    )


async def _rebuild(settings: Settings) -> recount.RebuildResult:
    async with open_dynamodb(settings) as client:
        with ExitStack() as bars:

            def bar(label: str, total: int | None) -> Callable[[int], None]:
                return bars.enter_context(progress_bar(label, total))

            return await rebuild_under(settings, client, settings.table_prefix, bar)


async def rebuild_under(
    settings: Settings, client: DynamoDBClient, prefix: str, bars: Bars | None
) -> recount.RebuildResult:
    """`counters rebuild` on the tables under `prefix` (also the last step of `restore`)."""
    await ensure_tables(client, prefix, STREAM_TABLES)
    history = ReadModelTables.under(prefix).log
    total = (await client.describe_table(TableName=history))["Table"].get("ItemCount")
    async with open_streams(settings) as streams:
        advance = bars("recounting history", total or None) if bars else None
        return await recount.rebuild(
            client,
            streams,
            prefix,
            settings.counter_shards,
            lease_seconds=settings.stream_lease_seconds,
            progress=advance,
        )
