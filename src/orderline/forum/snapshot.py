"""Snapshots of the forum tables in the data dir, for the embedded (in-memory) emulator.

Format (DESIGN §12, the backup format): a folder with `manifest.json` (each table's spec as
CreateTable takes it, its item count, and per file its sha256) and one DynamoDB-JSON-lines file
per table (`{"Item": {...}}` per line, as DynamoDB's S3 export writes them). A snapshot is
written beside the previous one and swapped in by rename, so a crash never leaves half of one.
Snapshots hold the users' emails: the folder is created 0700 and each file 0600.
Self-contained on purpose: `orderline backup/restore` (ops/) may replace it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import TableSpec

from . import dynamo
from .model import now

log = logging.getLogger(__name__)
FORMAT = "orderline-backup"
FORMAT_VERSION = 1
RESTORE_CHUNK = 1000


class SnapshotInvalid(Exception):
    pass


async def take(
    client: DynamoDBClient, prefix: str, specs: tuple[TableSpec, ...], target: Path
) -> int:
    """Scan every table into a new folder, then swap it in for `target`; returns the items."""
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(mode=0o700, parents=True)
    tables = [await _dump(client, spec, prefix, fresh) for spec in specs]
    manifest = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "createdAt": now(),
        "prefix": prefix,
        "tables": tables,
    }
    with _private(fresh / "manifest.json") as out:
        out.write(json.dumps(manifest, indent=2))
    _swap(fresh, target)
    return sum(table["count"] for table in tables)


def _private(path: Path) -> IO[str]:
    """A new file for writing, readable by this user only from its creation."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w")


def _swap(fresh: Path, target: Path) -> None:
    """`fresh` becomes `target`; the previous snapshot stays as `.old` until then."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


async def _dump(
    client: DynamoDBClient, spec: TableSpec, prefix: str, folder: Path
) -> dict[str, Any]:
    name = spec.table_name(prefix)
    path = folder / f"{spec.name}.jsonl"
    digest, count = hashlib.sha256(), 0
    request: dict[str, Any] = {"TableName": name}
    with _private(path) as out:
        while True:
            response = await client.scan(**request)
            for raw in response.get("Items", []):
                line = json.dumps({"Item": raw}, separators=(",", ":"), sort_keys=True) + "\n"
                out.write(line)
                digest.update(line.encode())
                count += 1
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    spec_request = {k: v for k, v in spec.create_request(prefix).items() if k != "TableName"}
    return {
        "name": spec.name,
        "tableName": name,
        "spec": spec_request,
        "count": count,
        "files": [{"path": path.name, "sha256": digest.hexdigest(), "count": count}],
    }


def latest(target: Path) -> Path | None:
    """The snapshot to restore: `target`, or the previous one if a swap was interrupted."""
    for folder in (target, target.with_name(target.name + ".old")):
        if (folder / "manifest.json").exists():
            return folder
    return None


async def restore(
    client: DynamoDBClient, prefix: str, specs: tuple[TableSpec, ...], source: Path
) -> int:
    """Create the tables and write every item of the snapshot (checksums verified first)."""
    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise SnapshotInvalid(f"{source} is not an {FORMAT} folder")
    by_name = {spec.name: spec for spec in specs}
    for table in manifest["tables"]:
        for file in table["files"]:
            if _sha256(source / file["path"]) != file["sha256"]:
                raise SnapshotInvalid(f"{source / file['path']}: checksum mismatch")
    await ensure_tables(client, prefix, specs)
    restored = 0
    for table in manifest["tables"]:
        if table["name"] not in by_name:
            continue
        name = by_name[table["name"]].table_name(prefix)
        for file in table["files"]:
            for chunk in _chunks(source / file["path"]):
                await dynamo.write_all(client, name, [{"PutRequest": {"Item": i}} for i in chunk])
                restored += len(chunk)
    return restored


def _chunks(path: Path) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    with path.open() as lines:
        for line in lines:
            chunk.append(json.loads(line)["Item"])
            if len(chunk) == RESTORE_CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def empty(client: DynamoDBClient, prefix: str, specs: tuple[TableSpec, ...]) -> bool:
    for spec in specs:
        response = await client.scan(TableName=spec.table_name(prefix), Limit=1, Select="COUNT")
        if response.get("Count") or response.get("LastEvaluatedKey"):
            return False
    return True


class Snapshotter:
    """Restore at start (into empty tables only), snapshot every `seconds` and when stopped."""

    def __init__(
        self,
        client: DynamoDBClient,
        prefix: str,
        specs: tuple[TableSpec, ...],
        target: Path,
        seconds: float,
    ) -> None:
        self.client, self.prefix, self.specs = client, prefix, specs
        self.target, self.seconds = target, seconds

    async def restore_if_empty(self) -> int:
        source = latest(self.target)
        if source is None:
            return 0
        await ensure_tables(self.client, self.prefix, self.specs)
        if not await empty(self.client, self.prefix, self.specs):
            return 0
        restored = await restore(self.client, self.prefix, self.specs, source)
        log.info("restored %d forum items from %s", restored, source)
        return restored

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.seconds)
            await self.snapshot()

    async def snapshot(self) -> None:
        try:
            items = await take(self.client, self.prefix, self.specs, self.target)
        except Exception:
            log.exception("forum snapshot into %s failed; the previous one is kept", self.target)
            return
        log.debug("forum snapshot: %d items into %s", items, self.target)
