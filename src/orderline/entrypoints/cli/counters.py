"""`orderline counters …`: the status counters counted from the history table's stream."""

from __future__ import annotations

import asyncio

import typer

from orderline.adapters.dynamodb.tables import ReadModelTables
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
    typer.echo(
        f"recounted {result.entries} history entries on {result.shards} shards: "
        f"{result.written} counter items rewritten, {result.deleted} removed"
    )


async def _rebuild(settings: Settings) -> recount.RebuildResult:
    async with open_dynamodb(settings) as client, open_streams(settings) as streams:
        history = ReadModelTables.under(settings.table_prefix).log
        total = (await client.describe_table(TableName=history))["Table"].get("ItemCount")
        with progress_bar("recounting history", total or None) as advance:
            return await recount.rebuild(
                client,
                streams,
                settings.table_prefix,
                settings.counter_shards,
                lease_seconds=settings.stream_lease_seconds,
                progress=advance,
            )
