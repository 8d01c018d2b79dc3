"""Conflicts made visible: a forum item overwritten by another region's write within the window.

Global tables resolve concurrent writes by last writer wins and log nothing. `ConflictWatcher`
follows one region's forum tables' streams (NEW_AND_OLD_IMAGES, as global tables have) with the
`StreamReader` and its leases; `overwritten` recognises a MODIFY whose old and new images name
different `updatedRegion`s with `updatedAt`s within `window` seconds: a write that arrived by
replication and replaced one made here moments before. Each is recorded (a metric, one log line
and an entry in the region's `forum-conflicts` table with both versions), keyed by table and
stream sequence number, so a redelivered batch rewrites the same entry (and an entry replicated
to another region, the export making the table global too, is the same entry there).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orderline import metrics
from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.protocol import DynamoDBClient, DynamoDBStreamsClient
from orderline.adapters.dynamodb.tables import FORUM_CONFLICTS, FORUM_TABLES, STREAM_LEASES

from .counters import reader_identity
from .leases import Checkpoint, Leases, lease_stream, write_checkpoint
from .reader import ReaderPolicy, ShardBatch, StreamReader
from .shards import stream_of

log = logging.getLogger(__name__)
CONSUMER = "conflicts"


@dataclass(frozen=True)
class Overwrite:
    key: dict[str, Any]  # raw attribute values
    lost: dict[str, Any]  # the old image (raw), the version last writer wins threw away
    kept: dict[str, Any]  # the new image (raw)


def _stamp(image: dict[str, Any]) -> tuple[str, datetime] | None:
    region, at = image.get("updatedRegion", {}).get("S"), image.get("updatedAt", {}).get("S")
    if not region or not at:
        return None
    return region, datetime.fromisoformat(at.replace("Z", "+00:00"))


def overwritten(record: dict[str, Any], window: float) -> Overwrite | None:
    """The overwrite a stream record shows, if it is another region's within `window` s."""
    change = record.get("dynamodb", {})
    if record.get("eventName") != "MODIFY" or "OldImage" not in change:
        return None
    old, new = _stamp(change["OldImage"]), _stamp(change.get("NewImage", {}))
    if old is None or new is None or old[0] == new[0]:
        return None
    if abs((new[1] - old[1]).total_seconds()) > window:
        return None
    return Overwrite(change["Keys"], change["OldImage"], change["NewImage"])


class ConflictRecorder:
    """The stream handler of one table: records each overwrite, then moves the checkpoint."""

    def __init__(self, client: DynamoDBClient, prefix: str, region: str, window: float) -> None:
        self._client = client
        self._conflicts = FORUM_CONFLICTS.table_name(prefix)
        self._region = region
        self._window = window
        self.recorded = 0

    async def apply(self, table: str, batch: ShardBatch) -> Checkpoint:
        for record in batch.records:
            found = overwritten(record, self._window)
            if found is not None:
                await self._record(table, str(record["dynamodb"]["SequenceNumber"]), found)
        last = str(batch.records[-1]["dynamodb"]["SequenceNumber"])
        await write_checkpoint(self._client, batch.checkpoint, last)
        return batch.checkpoint.moved(last)

    async def _record(self, table: str, sequence: str, found: Overwrite) -> None:
        key = json.dumps(from_item(found.key), sort_keys=True, default=str)
        lost, kept = _stamp(found.lost), _stamp(found.kept)
        assert lost is not None and kept is not None
        item = {
            "conflictId": {"S": f"{self._region}#{table}#{sequence}"},
            "table": {"S": table},
            "key": {"S": key},
            "region": {"S": self._region},
            "detectedAt": {"S": datetime.now(UTC).isoformat()},
            "lostRegion": {"S": lost[0]},
            "keptRegion": {"S": kept[0]},
            "lost": {"M": found.lost},
            "kept": {"M": found.kept},
        }
        await self._client.put_item(TableName=self._conflicts, Item=item)
        self.recorded += 1
        metrics.FORUM_CONFLICTS.labels(table, self._region).inc()
        log.warning(
            "forum conflict in %s: %s %s written in %s at %s lost to %s at %s (recorded)",
            self._region,
            table,
            key,
            lost[0],
            lost[1].isoformat(),
            kept[0],
            kept[1].isoformat(),
        )


class ConflictWatcher:
    """One region's forum tables' streams, read with leases, into that region's conflicts."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        prefix: str,
        region: str,
        *,
        window: float = 5.0,
        policy: ReaderPolicy | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._prefix = prefix
        self._policy = policy or ReaderPolicy()
        self._owner = reader_identity()
        self.recorder = ConflictRecorder(dynamodb, prefix, region, window)

    async def readers(self) -> list[tuple[str, StreamReader]]:
        found = []
        for spec in FORUM_TABLES:
            table = spec.table_name(self._prefix)
            arn = await stream_of(self._dynamodb, table)
            leases = Leases(
                self._dynamodb,
                STREAM_LEASES.table_name(self._prefix),
                lease_stream(CONSUMER, arn),
                self._owner,
            )
            reader = StreamReader(
                self._streams, arn, leases, consumer=CONSUMER, policy=self._policy
            )
            found.append((table, reader))
        return found

    def _handler(self, table: str) -> Any:
        async def handle(batch: ShardBatch) -> Checkpoint:
            return await self.recorder.apply(table, batch)

        return handle

    async def catch_up(self) -> int:
        """Every record the streams hold now; returns how many records were read."""
        read = 0
        for table, reader in await self.readers():
            try:
                read += await reader.catch_up(self._handler(table))
            finally:
                await reader.release()
        return read

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop` is set."""
        readers = await self.readers()
        await asyncio.gather(*(reader.run(self._handler(table), stop) for table, reader in readers))
