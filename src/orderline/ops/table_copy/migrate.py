"""`orderline migrate-table`: parallel scan -> transform -> write, resumable per segment.

The checkpoint file records, per segment, the `LastEvaluatedKey` after which everything was
written (saved after each page's writes complete) or that the segment is done, so a migration
killed at any point resumes without scanning done pages again (re-putting is idempotent).
With `conditional`, each item is written by a PutItem that applies only when the target has no
item or an older `version` (the backfill of a zero-downtime migration: never over a newer
dual-written item).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderline.adapters.dynamodb.codec import AttributeItem
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.readmodel.routing import Transform
from orderline.readmodel.table_migration import identity

from ..bulk.dynamodb_http import Wire, WireError
from ..bulk.files import write_json_durably
from ..bulk.limiter import CapacityLimiter, consumed_units
from ..bulk.manifest import describe_for_backup
from ..bulk.scan import count_items, scan_segment
from ..bulk.schema import create_from_backup, exists
from ..bulk.writer import BATCH, BatchWriter

NEWER = "attribute_not_exists(#key) OR #version < :version"


@dataclass(frozen=True)
class MigrateOptions:
    source: str
    target: str
    checkpoint: Path
    transform: Transform = identity
    segments: int = 8
    max_rcu: float | None = None
    max_wcu: float | None = None
    dry_run: bool = False
    conditional: bool = False
    key: str = "orderId"  # the hash key, for conditional writes


@dataclass
class MigrateResult:
    scanned: int = 0
    written: int = 0
    skipped: int = 0  # transform returned None
    stale: int = 0  # conditional writes refused: the target had a newer version
    source_count: int | None = None
    target_count: int | None = None
    samples: list[AttributeItem] = field(default_factory=list)


class Checkpoint:
    def __init__(self, path: Path, segments: int) -> None:
        self.path = path
        data = orjson.loads(path.read_bytes()) if path.exists() else {}
        self.segments: dict[str, Any] = data.get("segments", {})
        if data and data.get("total") != segments:
            raise ValueError(f"{path} was written for {data.get('total')} segments")
        self.total = segments

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_durably(self.path, {"total": self.total, "segments": self.segments})


async def migrate(
    wire: Wire, options: MigrateOptions, progress: Callable[[int], None] | None = None
) -> MigrateResult:
    result = MigrateResult()
    checkpoint = Checkpoint(options.checkpoint, options.segments)
    reads = CapacityLimiter(options.max_rcu)
    writer = BatchWriter(wire, CapacityLimiter(options.max_wcu))
    await asyncio.gather(
        *(
            _segment(wire, writer, options, checkpoint, segment, reads, result, progress)
            for segment in range(options.segments)
        )
    )
    if not options.dry_run:
        result.source_count = await count_items(wire, options.source)
        result.target_count = await count_items(wire, options.target)
        options.checkpoint.unlink(missing_ok=True)
    return result


async def _segment(
    wire: Wire,
    writer: BatchWriter,
    options: MigrateOptions,
    checkpoint: Checkpoint,
    segment: int,
    reads: CapacityLimiter,
    result: MigrateResult,
    progress: Callable[[int], None] | None,
) -> None:
    state = checkpoint.segments.get(str(segment), {})
    if state.get("done"):
        return

    async def page(items: list[AttributeItem], last: AttributeItem | None) -> None:
        changed = [options.transform(item) for item in items]
        kept = [item for item in changed if item is not None]
        result.scanned += len(items)
        result.skipped += len(items) - len(kept)
        if options.dry_run:
            result.samples += kept[: max(0, 3 - len(result.samples))]
        else:
            await _write(wire, writer, options, kept, result)
            checkpoint.segments[str(segment)] = {"done": last is None, "last": last}
            checkpoint.save()
        if progress:
            progress(len(items))

    await scan_segment(
        wire,
        options.source,
        segment,
        options.segments,
        page,
        limiter=reads,
        start_key=state.get("last"),
    )


async def _write(
    wire: Wire,
    writer: BatchWriter,
    options: MigrateOptions,
    items: list[AttributeItem],
    result: MigrateResult,
) -> None:
    if options.conditional:
        outcomes = await asyncio.gather(
            *(put_item_if_newer(wire, options.target, item, options.key) for item in items)
        )
        result.written += sum(outcomes)
        result.stale += len(outcomes) - sum(outcomes)
        return
    await asyncio.gather(
        *(
            writer.put_items(options.target, items[i : i + BATCH])
            for i in range(0, len(items), BATCH)
        )
    )
    result.written += len(items)


async def put_item_if_newer(wire: Wire, table: str, item: AttributeItem, key: str) -> bool:
    """Put unless the target holds the same or a newer version; False when refused."""
    request = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": NEWER,
        "ExpressionAttributeNames": {"#key": key, "#version": "version"},
        "ExpressionAttributeValues": {":version": item["version"]},
        "ReturnConsumedCapacity": "TOTAL",
    }
    try:
        consumed_units(await wire.call("PutItem", request))
    except WireError as exc:
        if exc.code == "ConditionalCheckFailedException":
            return False
        raise
    return True


async def ensure_target(client: DynamoDBClient, source: str, target: str) -> bool:
    """Create `target` like `source` (keys, indexes, billing, stream, TTL) if it is missing."""
    if await exists(client, target):
        return False
    table = await describe_for_backup(client, source, "")
    await create_from_backup(client, table, target)
    return True
