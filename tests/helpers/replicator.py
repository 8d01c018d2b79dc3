"""Global tables' replication, as a test double: two emulators stand for two regions.

`Replicator` follows the home emulator's stream of each replicated table with the project's
`StreamReader` (leases and checkpoints in the home region's `stream-leases` table) and applies
every change to the replica emulator `lag` seconds after it read it, last writer wins by a
per-item timestamp (`updatedAt`) as global tables do: a put lands only when the replica holds
no item or an older one. The home tables need streams with NEW_AND_OLD_IMAGES:
`create_home_tables` makes them so (a test-only option; the product's specs are unchanged).

    with replicating(settings, home, replica, prefix, lag=0.3) as replicator: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.errors import is_condition_failed
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import (
    FORUM_TABLES,
    ORDER_DETAILS,
    STREAM_LEASES,
    STREAM_TABLES,
    TABLES,
    TableSpec,
)
from orderline.config import Settings
from orderline.regions import Region
from orderline.streams.leases import Leases, lease_stream, write_checkpoint
from orderline.streams.reader import ReaderPolicy, ShardBatch, StreamReader
from orderline.streams.shards import stream_of

REPLICATED: tuple[TableSpec, ...] = (*TABLES, *FORUM_TABLES)
TIMESTAMP = "updatedAt"


async def create_home_tables(home: DynamoDBClient, replica: DynamoDBClient, prefix: str) -> None:
    """Every replicated table in both regions; the home ones with NEW_AND_OLD_IMAGES streams."""
    streamed = tuple(dataclasses.replace(spec, stream=True) for spec in REPLICATED)
    await ensure_tables(home, prefix, (*streamed, *STREAM_TABLES))
    await ensure_tables(replica, prefix, (*REPLICATED, *STREAM_TABLES))


@dataclass
class Replicator:
    settings: Settings
    home: Region
    replica: Region
    prefix: str
    lag: float
    applied: int = 0
    lost_to_newer: int = 0  # puts refused: the replica held a newer item (last writer wins)
    _queue: asyncio.Queue[tuple[float, str, dict[str, Any]]] = field(default_factory=asyncio.Queue)

    async def run(self, stop: asyncio.Event) -> None:
        async with (
            dynamodb_client(self.settings, self.home) as home,
            streams_client(self.settings, self.home) as streams,
            dynamodb_client(self.settings, self.replica) as replica,
        ):
            readers = [await self._reader(home, streams, spec) for spec in REPLICATED]
            tasks = [
                asyncio.create_task(reader.run(self._handler(home, spec), stop))
                for spec, reader in zip(REPLICATED, readers, strict=True)
            ]
            tasks.append(asyncio.create_task(self._apply(replica, stop)))
            await asyncio.gather(*tasks)

    async def _reader(self, home: Any, streams: Any, spec: TableSpec) -> StreamReader:
        arn = await stream_of(home, spec.table_name(self.prefix))
        leases = Leases(
            home,
            STREAM_LEASES.table_name(self.prefix),
            lease_stream("replicator", arn),
            owner=f"replicator-{id(self)}",
        )
        policy = ReaderPolicy(poll_seconds=0.05, discover_seconds=1.0)
        return StreamReader(streams, arn, leases, consumer="replicator", policy=policy)

    def _handler(self, home: DynamoDBClient, spec: TableSpec) -> Any:
        table = spec.table_name(self.prefix)

        async def handle(batch: ShardBatch) -> Any:
            due = time.monotonic() + self.lag
            for record in batch.records:
                self._queue.put_nowait((due, table, record))
            last = str(batch.records[-1]["dynamodb"]["SequenceNumber"])
            await write_checkpoint(home, batch.checkpoint, last)
            return batch.checkpoint.moved(last)

        return handle

    async def _apply(self, replica: DynamoDBClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                due, table, record = await asyncio.wait_for(self._queue.get(), 0.1)
            except TimeoutError:
                continue
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._apply_one(replica, table, record)

    async def _apply_one(self, replica: DynamoDBClient, table: str, record: dict[str, Any]) -> None:
        change = record["dynamodb"]
        if record["eventName"] == "REMOVE":
            await replica.delete_item(TableName=table, Key=change["Keys"])
            self.applied += 1
            return
        image = change["NewImage"]
        request: dict[str, Any] = {"TableName": table, "Item": image}
        if TIMESTAMP in image:
            name = next(iter(change["Keys"]))
            request["ConditionExpression"] = "attribute_not_exists(#k) OR #ts < :ts"
            request["ExpressionAttributeNames"] = {"#k": name, "#ts": TIMESTAMP}
            request["ExpressionAttributeValues"] = {":ts": image[TIMESTAMP]}
        try:
            await replica.put_item(**request)
        except Exception as exc:
            if not is_condition_failed(exc):
                raise
            self.lost_to_newer += 1
            return
        self.applied += 1


async def _until_live(
    settings: Settings, home: Region, replica: Region, prefix: str, failure: list[BaseException]
) -> None:
    """Write a probe item at home and wait until the replica has it: the readers hold their
    shards and measured lags start from here."""
    table = ORDER_DETAILS.table_name(prefix)
    key = {"orderId": {"S": f"replicator-probe-{time.monotonic_ns()}"}}
    async with (
        dynamodb_client(settings, home) as home_client,
        dynamodb_client(settings, replica) as replica_client,
    ):
        await home_client.put_item(TableName=table, Item=key)
        deadline = time.monotonic() + 60
        while "Item" not in await replica_client.get_item(TableName=table, Key=key):
            if failure:
                raise failure[0]
            if time.monotonic() > deadline:
                raise TimeoutError("the replicator did not start within 60 s")
            await asyncio.sleep(0.05)
        await home_client.delete_item(TableName=table, Key=key)


@contextlib.contextmanager
def replicating(
    settings: Settings, home: Region, replica: Region, prefix: str, *, lag: float
) -> Iterator[Replicator]:
    """A replicator running in a thread of its own (its own event loop) until the block ends."""
    replicator = Replicator(settings, home, replica, prefix, lag)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(replicator.run(stop))
        except BaseException as exc:  # reported when the block ends
            failure.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        asyncio.run(_until_live(settings, home, replica, prefix, failure))
        yield replicator
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        loop.close()
    if failure:
        raise failure[0]
