"""`orderline backup`: every table of a prefix to a folder, by parallel scan, resumable.

The plan (tables, their definitions, segments, and the outbox position, taken BEFORE any scan)
is written to `backup-state.json` first; a run that finds it resumes that plan and scans only
the segments without a `.done.json` marker. When every segment is done, each file is read back
and checked against its recorded sha256, `manifest.json` is written and the state removed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderline.adapters.dynamodb.protocol import DynamoDBClient

from .dynamodb_http import Wire
from .files import FileEntry, SegmentWriter, read_done, verify
from .limiter import CapacityLimiter
from .manifest import MANIFEST, Manifest, TableBackup, describe_for_backup, now_text, selected
from .scan import scan_segment

STATE = "backup-state.json"
Progress = Callable[[int], None]
PositionSource = Callable[[], Awaitable[int | None]]


class BackupError(Exception):
    """The backup cannot start or complete; it is left resumable."""


@dataclass(frozen=True)
class BackupOptions:
    out: Path
    prefix: str
    patterns: list[str] | None = None
    segments: int = 8
    max_rcu: float | None = None
    concurrency: int = 32


@dataclass
class BackupResult:
    manifest: Manifest
    items: int = 0
    scanned_segments: int = 0
    resumed_segments: int = 0
    seconds: float = 0.0
    retries: int = 0
    notes: list[str] = field(default_factory=list)


async def plan_backup(
    client: DynamoDBClient, options: BackupOptions, position: PositionSource | None
) -> tuple[Manifest, bool]:
    """The plan of this backup: resumed from the state file, or new. (plan, resumed)"""
    state = options.out / STATE
    if (options.out / MANIFEST).exists():
        raise BackupError(f"{options.out} already holds a complete backup; choose another --out")
    if state.exists():
        return Manifest.load(state), True
    names = await list_tables(client, options.prefix)
    tables = [
        await describe_for_backup(client, name, options.prefix)
        for name in names
        if selected(name[len(options.prefix) :], name, options.patterns)
    ]
    if not tables:
        raise BackupError(f"no table under prefix {options.prefix!r} matches")
    outbox = await position() if position and any(t.read_model for t in tables) else None
    for table in tables:
        table.outbox_position = outbox if table.read_model else None
    plan = Manifest(options.prefix, tables, options.segments, outbox_position=outbox)
    options.out.mkdir(parents=True, exist_ok=True)
    plan.save(state)
    return plan, False


async def run_backup(
    wire: Wire, plan: Manifest, options: BackupOptions, progress: Progress | None = None
) -> BackupResult:
    """Scan every segment not yet done, verify every file, write the manifest."""
    result = BackupResult(plan)
    limiter = CapacityLimiter(options.max_rcu)
    gate = asyncio.Semaphore(options.concurrency)
    jobs = []
    for table in plan.tables:
        table.files = []
        for segment in range(plan.segments):
            relative = segment_path(table.name, segment, plan.segments)
            done = read_done(options.out, relative)
            if done is not None:
                result.resumed_segments += 1
                table.files.append(done)
                if progress:
                    progress(done.items)
                continue
            jobs.append(_scan_job(wire, table, segment, plan.segments, options, limiter, gate))
    for table, entry in await asyncio.gather(*(job(progress) for job in jobs)):
        table.files.append(entry)
        result.scanned_segments += 1
    return _finish(plan, options, result)


def _scan_job(
    wire: Wire,
    table: TableBackup,
    segment: int,
    total: int,
    options: BackupOptions,
    limiter: CapacityLimiter,
    gate: asyncio.Semaphore,
) -> Callable[[Progress | None], Awaitable[tuple[TableBackup, FileEntry]]]:
    async def job(progress: Progress | None) -> tuple[TableBackup, FileEntry]:
        async with gate:
            writer = SegmentWriter(options.out, segment_path(table.name, segment, total))

            async def page(items: list[dict[str, Any]], _: dict[str, Any] | None) -> None:
                writer.write_items(items)
                if progress:
                    progress(len(items))

            try:
                await scan_segment(wire, table.name, segment, total, page, limiter=limiter)
            except BaseException:
                writer.abandon()
                raise
            return table, await asyncio.to_thread(writer.finish)

    return job


def _finish(plan: Manifest, options: BackupOptions, result: BackupResult) -> BackupResult:
    for table in plan.tables:
        table.files.sort(key=lambda entry: entry.path)
        for entry in table.files:
            verify(options.out, entry, table.key_names)
        table.items = sum(entry.items for entry in table.files)
        result.items += table.items
    plan.completed_at = now_text()
    plan.save(options.out / MANIFEST)
    (options.out / STATE).unlink(missing_ok=True)
    for marker in options.out.glob("*/*.done.json"):
        marker.unlink()
    return result


def segment_path(table: str, segment: int, total: int) -> str:
    return f"{table}/segment-{segment:04d}-of-{total:04d}.jsonl"


async def list_tables(client: DynamoDBClient, prefix: str) -> list[str]:
    names: list[str] = []
    request: dict[str, Any] = {}
    while True:
        response = await client.list_tables(**request)
        names += [name for name in response.get("TableNames", []) if name.startswith(prefix)]
        if not response.get("LastEvaluatedTableName"):
            return sorted(names)
        request["ExclusiveStartTableName"] = response["LastEvaluatedTableName"]


def discard(out: Path) -> None:
    """Remove a backup folder (used by tests and the benchmark)."""
    shutil.rmtree(out, ignore_errors=True)
