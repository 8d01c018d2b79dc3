"""`orderline restore`: a backup folder into tables, verified before and after, resumable.

The manifest is not trusted: its files must be regular files inside the backup folder (relative
paths, no `..`, no symbolic links), its CreateTable requests hold only the parameters a backup
writes, and its tables land under the configured prefix unless `--prefix` names another.
Before any write, every selected file is checked against the manifest (sha256, size; on a
mismatch the first bad line is named) while it is copied into a private folder, and the items are
written from that copy: what is written is what was checked. Tables are then created from the
manifest (TTL, stream, tags, PITR) or, with `overwrite`, deleted and recreated; a non-empty table
is refused otherwise.
Files are written concurrently, each in order, 25 items a call with several calls in flight;
the journal `restore-state-<prefix>.json` records per file how many lines are known written, so
a restore killed at any point resumes where it was (putting an item twice is idempotent).
Finally every table's exact count (`Scan Select=COUNT`) must equal the manifest's.

Counter items are not restored: they are counted from the history table's stream (`streams/`),
and the restored history entries are new INSERTs on that stream, which an aggregator counts;
restored counter items would count every entry twice. So `order-status-metrics` is created
(empty) but not written, and when the restore touches history or counters it ends with the
`CounterRebuild` it was given (`orderline counters rebuild` on the target prefix), before its
journal is removed: a restore killed during the rebuild rebuilds again when resumed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import ORDER_STATUS_LOG, ORDER_STATUS_METRICS

from .dynamodb_http import Wire
from .files import CorruptBackup, FileEntry, lines, verify, write_json_durably
from .limiter import CapacityLimiter
from .manifest import MANIFEST, Manifest, TableBackup, check_create, selected
from .scan import count_items, is_empty
from .schema import create_from_backup, delete_and_wait, exists
from .writer import BATCH, BatchWriter

IN_FLIGHT_PER_FILE = 4
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
JOURNAL_SECONDS = 0.5
Progress = Callable[[int], None]
# Tables derived from the history (counted from its stream): created, never written, rebuilt.
COUNTED = frozenset({ORDER_STATUS_METRICS.name})
COUNTED_FROM = frozenset({ORDER_STATUS_LOG.name, *COUNTED})
CounterRebuild = Callable[[str, Callable[[str, int | None], Progress] | None], Awaitable[str]]
"""Rebuilds the counters under a prefix from its history (progress bars as in `run_restore`);
returns a line for the summary."""


class RestoreError(Exception):
    """The restore cannot proceed or did not produce what the backup holds."""


@dataclass(frozen=True)
class RestoreOptions:
    source: Path
    prefix: str | None = None
    patterns: list[str] | None = None
    max_wcu: float | None = None
    overwrite: bool = False
    concurrency: int = 32
    # ORDERLINE_TABLE_PREFIX: without `prefix`, every target must be under it
    configured_prefix: str = field(kw_only=True)


@dataclass
class RestoreResult:
    tables: dict[str, int] = field(default_factory=dict)  # target name -> items counted
    items: int = 0
    resumed: bool = False
    notes: list[str] = field(default_factory=list)
    counters: str | None = None  # what the counter rebuild did, when it ran


def load_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.exists():
        incomplete = (source / "backup-state.json").exists()
        why = "an unfinished backup: resume it with `orderline backup --out`" if incomplete else ""
        raise CorruptBackup(f"{path}: missing{' (' + why + ')' if why else ''}")
    try:
        return Manifest.load(path)
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        raise CorruptBackup(f"{path}: not a valid manifest ({exc})") from exc


def targets(manifest: Manifest, options: RestoreOptions) -> list[tuple[TableBackup, str]]:
    """The selected tables and their target names, each checked: a CreateTable request of
    allowed parameters only, a table name, and under the configured prefix unless the command
    line named the prefix (a manifest cannot point `--overwrite` at another prefix's tables)."""
    prefix = manifest.source_prefix if options.prefix is None else options.prefix
    chosen = [
        (table, prefix + table.base_name)
        for table in manifest.tables
        if selected(table.base_name, table.name, options.patterns)
    ]
    if not chosen:
        raise RestoreError("no table of the backup matches --tables")
    for table, name in chosen:
        check_create(table)
        if not TABLE_NAME.fullmatch(name):
            raise CorruptBackup(f"{MANIFEST}: {name!r} is not a DynamoDB table name")
        if options.prefix is None and not name.startswith(options.configured_prefix):
            raise RestoreError(
                f"table {name} (the backup's prefix {manifest.source_prefix!r}) is outside the "
                f"configured prefix {options.configured_prefix}; name the prefix to restore "
                "under with --prefix"
            )
    return chosen


def verify_files(
    source: Path,
    chosen: list[tuple[TableBackup, str]],
    staging: Path,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Every file as the manifest says, before anything is written (raises CorruptBackup),
    copied into `staging` as it is read: the copies to restore from, by manifest path."""
    copies: dict[str, Path] = {}
    for table, _ in chosen:
        if sum(entry.items for entry in table.files) != table.items:
            raise CorruptBackup(f"{MANIFEST}: {table.name} item count differs from its files")
        for entry in table.files:
            copies[entry.path] = staging / f"{len(copies)}.jsonl"
            verify(source, entry, table.key_names, copies[entry.path])
            if progress:
                progress(entry.items)
    return copies


class Journal:
    """Which tables are prepared and how many lines of each file are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resumed = path.exists()
        data = orjson.loads(path.read_bytes()) if self.resumed else {}
        self.prepared: set[str] = set(data.get("prepared", []))
        self.done: dict[str, int] = dict(data.get("files", {}))
        self._saved = 0.0

    def save(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._saved < JOURNAL_SECONDS:
            return
        write_json_durably(self.path, {"prepared": sorted(self.prepared), "files": self.done})
        self._saved = time.monotonic()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def journal_for(source: Path, prefix: str) -> Journal:
    tag = hashlib.sha256(prefix.encode()).hexdigest()[:12]
    return Journal(source / f"restore-state-{tag}.json")


async def prepare_tables(
    client: DynamoDBClient,
    wire: Wire,
    chosen: list[tuple[TableBackup, str]],
    journal: Journal,
    overwrite: bool,
) -> list[str]:
    """Create or recreate each target table once per restore; refuse non-empty ones."""
    notes: list[str] = []
    for table, name in chosen:
        if name in journal.prepared:
            continue
        if await exists(client, name):
            if overwrite:
                await delete_and_wait(client, name)
            elif not await is_empty(wire, name):
                raise RestoreError(f"table {name} is not empty; pass --overwrite to replace it")
            else:
                journal.prepared.add(name)
                journal.save(force=True)
                continue
        notes += await create_from_backup(client, table, name)
        journal.prepared.add(name)
        journal.save(force=True)
    return notes


async def write_files(
    wire: Wire,
    options: RestoreOptions,
    chosen: list[tuple[TableBackup, str]],
    copies: dict[str, Path],
    journal: Journal,
    progress: Progress | None = None,
) -> int:
    writer = BatchWriter(wire, CapacityLimiter(options.max_wcu), options.concurrency)
    jobs = [
        _write_file(writer, copies[entry.path], entry, name, journal, progress)
        for table, name in chosen
        for entry in table.files
    ]
    written = sum(await asyncio.gather(*jobs))
    journal.save(force=True)
    return written


async def _write_file(
    writer: BatchWriter,
    copy: Path,
    entry: FileEntry,
    table: str,
    journal: Journal,
    progress: Progress | None,
) -> int:
    start = journal.done.get(entry.path, 0)
    if progress and start:
        progress(start)
    pending: deque[tuple[int, asyncio.Task[None]]] = deque()
    batch: list[bytes] = []
    for number, line in enumerate(lines(copy), start=1):
        if number <= start:
            continue
        batch.append(line)
        if len(batch) == BATCH:
            await _submit(writer, table, batch, number, pending, journal, entry, progress)
            batch = []
    if batch:
        await _submit(writer, table, batch, entry.items, pending, journal, entry, progress)
    while pending:
        await _settle(pending, journal, entry, progress)
    return entry.items - start


async def _submit(
    writer: BatchWriter,
    table: str,
    batch: list[bytes],
    last_line: int,
    pending: deque[tuple[int, asyncio.Task[None]]],
    journal: Journal,
    entry: FileEntry,
    progress: Progress | None,
) -> None:
    pending.append((last_line, asyncio.create_task(writer.put_lines(table, batch))))
    if len(pending) >= IN_FLIGHT_PER_FILE:
        await _settle(pending, journal, entry, progress)


async def _settle(
    pending: deque[tuple[int, asyncio.Task[None]]],
    journal: Journal,
    entry: FileEntry,
    progress: Progress | None,
) -> None:
    """Wait for the oldest batch: lines up to its last are then all written (in order)."""
    last_line, task = pending[0]
    try:
        await task
    except BaseException:
        for _, other in pending:
            other.cancel()
        raise
    pending.popleft()
    written = last_line - journal.done.get(entry.path, 0)
    journal.done[entry.path] = last_line
    journal.save()
    if progress:
        progress(written)


async def run_restore(
    client: DynamoDBClient,
    wire: Wire,
    options: RestoreOptions,
    progress: Callable[[str, int | None], Progress] | None = None,
    counters: CounterRebuild | None = None,
) -> RestoreResult:
    """Verify, prepare, write, count, rebuild the counters; the journal is removed only when all
    of it succeeded.

    `progress(label, total)` opens a progress bar per phase and returns its `advance`. Without
    `counters`, a restore that touches history or counters notes the rebuild to run.
    """
    manifest = load_manifest(options.source)
    chosen = targets(manifest, options)
    total = sum(table.items for table, _ in chosen)
    written = [(table, name) for table, name in chosen if table.base_name not in COUNTED]
    with tempfile.TemporaryDirectory(prefix="orderline-restore-") as staging:  # mode 0700
        checking = progress("verifying files", total) if progress else None
        copies = verify_files(options.source, chosen, Path(staging), checking)
        prefix = manifest.source_prefix if options.prefix is None else options.prefix
        journal = journal_for(options.source, prefix)
        result = RestoreResult(resumed=journal.resumed)
        result.notes = await prepare_tables(client, wire, chosen, journal, options.overwrite)
        to_write = sum(table.items for table, _ in written)
        advance = progress("restoring items", to_write) if progress else None
        await write_files(wire, options, written, copies, journal, advance)
    result.tables = await verify_counts(wire, written)
    result.items = sum(result.tables.values())
    if any(table.base_name in COUNTED_FROM for table, _ in chosen):
        if counters is not None:
            result.counters = await counters(prefix, progress)
        else:
            result.notes.append(
                f"counters not restored: rebuild them from the history with "
                f"ORDERLINE_TABLE_PREFIX={prefix} orderline counters rebuild"
            )
    journal.discard()
    return result


async def verify_counts(wire: Wire, chosen: list[tuple[TableBackup, str]]) -> dict[str, int]:
    """Each target's exact count; RestoreError listing every table that differs."""
    counts = await asyncio.gather(*(count_items(wire, name) for _, name in chosen))
    found = {name: count for (_, name), count in zip(chosen, counts, strict=True)}
    wrong = [
        f"{name} has {found[name]} items, the backup {table.items}"
        for table, name in chosen
        if found[name] != table.items
    ]
    if wrong:
        raise RestoreError("count mismatch: " + "; ".join(wrong))
    return found
