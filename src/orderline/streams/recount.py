"""Counters recounted from the history table: the comparison `reconcile` prints, and the repair
`orderline counters rebuild` runs (after records were trimmed unread, or any drift).

`rebuild` takes every shard lease of the history stream (aggregators stop counting), notes how
far each shard has been written (its last record now), recounts by scanning the history table,
rewrites the counter items whose value differs, and moves every checkpoint to the noted
positions as it gives the leases back. It is exact when no history entry is written between
noting the positions and the end of the scan; an entry written meanwhile is in the recount if
the scan reached it, else neither there nor counted later. Run it in a quiet moment, or run
`orderline reconcile` afterwards and rebuild again if it reports a difference.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import from_item, to_item
from orderline.adapters.dynamodb.protocol import DynamoDBClient, DynamoDBStreamsClient
from orderline.adapters.dynamodb.tables import STREAM_LEASES, ReadModelTables

from .counters import CONSUMER, reader_identity
from .counting import CounterKey, Sum, entry_counts
from .leases import Leases, lease_stream
from .shards import Shard, describe, stream_of

Counts = dict[CounterKey, tuple[int, Decimal]]  # non-zero counter items only
Progress = Callable[[int], None]
BATCH_WRITE = 25


@dataclass(frozen=True)
class Difference:
    key: CounterKey
    counted: tuple[int, Decimal]  # in order-status-metrics
    recounted: tuple[int, Decimal]  # from the history table

    def __str__(self) -> str:
        (pk, sk), (n, v), (m, w) = self.key, self.counted, self.recounted
        return f"{pk} {sk}: counted {n} ({v}), history says {m} ({w})"


@dataclass
class RebuildResult:
    entries: int = 0
    written: int = 0
    deleted: int = 0
    shards: int = 0
    differences: list[Difference] = field(default_factory=list)


async def _pages(client: DynamoDBClient, table: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A table's items, a page (up to 1 MB) at a time: memory stays flat."""
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        response = await client.scan(**request)
        yield [from_item(raw) for raw in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


async def recount(
    client: DynamoDBClient, prefix: str, shards: int, progress: Progress | None = None
) -> tuple[Counts, int]:
    """What the history table's entries count to, and how many entries it holds."""
    sums: dict[CounterKey, Sum] = {}
    entries = 0
    async for page in _pages(client, ReadModelTables.under(prefix).log):
        for entry in page:
            for key, count, value in entry_counts(entry, shards):
                sums.setdefault(key, Sum()).add(count, value)
        entries += len(page)
        if progress is not None:
            progress(len(page))
    return {key: (s.count, s.value) for key, s in sums.items() if s}, entries


async def stored_counts(client: DynamoDBClient, prefix: str) -> Counts:
    """What the counter items hold now (zero items left out)."""
    counts: Counts = {}
    async for page in _pages(client, ReadModelTables.under(prefix).metrics):
        for item in page:
            count, value = int(item.get("count", 0)), Decimal(item.get("totalValue", 0))
            if count or value:
                counts[(item["pk"], item["sk"])] = (count, value)
    return counts


def differences(counted: Counts, recounted: Counts) -> list[Difference]:
    zero = (0, Decimal(0))
    return [
        Difference(key, counted.get(key, zero), recounted.get(key, zero))
        for key in sorted(counted.keys() | recounted.keys())
        if counted.get(key, zero) != recounted.get(key, zero)
    ]


async def compare(client: DynamoDBClient, prefix: str, shards: int) -> list[Difference]:
    """Counter items that differ from a recount of the history table (`reconcile`). Entries
    the aggregator has not counted yet (it lags by about a second) show up here too."""
    recounted, _ = await recount(client, prefix, shards)
    return differences(await stored_counts(client, prefix), recounted)


async def rebuild(
    client: DynamoDBClient,
    streams: DynamoDBStreamsClient,
    prefix: str,
    shards: int,
    *,
    lease_seconds: float = 10.0,
    progress: Progress | None = None,
) -> RebuildResult:
    """Recount the counters from history and restart counting after it (see the module)."""
    arn = await stream_of(client, ReadModelTables.under(prefix).log)
    leases = Leases(
        client,
        STREAM_LEASES.table_name(prefix),
        lease_stream(CONSUMER, arn),
        f"rebuild:{reader_identity()}",
        duration=lease_seconds,
    )
    listed = await describe(streams, arn)
    states = await leases.states()
    for shard in listed:
        await leases.seize(shard.shard_id)
    renewing = asyncio.create_task(_renew(leases, [s.shard_id for s in listed]))
    try:
        ends = {s.shard_id: await _end_of(streams, arn, s, states.get(s.shard_id)) for s in listed}
        recounted, entries = await recount(client, prefix, shards, progress)
        changes = differences(await stored_counts(client, prefix), recounted)
        written, deleted = await _rewrite(client, ReadModelTables.under(prefix).metrics, changes)
        for shard_id, (sequence, finished) in ends.items():
            await leases.hand_back(shard_id, sequence, finished=finished)
    finally:  # on a failure the leases expire, and a second run starts over
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    return RebuildResult(entries, written, deleted, len(listed), changes)


async def _renew(leases: Leases, shard_ids: list[str]) -> None:
    while True:
        await asyncio.sleep(leases.duration / 3)
        for shard_id in shard_ids:
            with contextlib.suppress(Exception):
                await leases.renew(shard_id)


async def _end_of(
    streams: DynamoDBStreamsClient, arn: str, shard: Shard, state: dict[str, Any] | None
) -> tuple[str | None, bool]:
    """The sequence number of a shard's last record now (or its checkpoint when nothing came
    after), and whether the shard is closed and read to its end."""
    last = str(state["checkpoint"]) if state and state.get("checkpoint") else None
    if state and state.get("finished"):
        return last, True
    request: dict[str, Any] = {"StreamArn": arn, "ShardId": shard.shard_id}
    try:
        if last is None:
            raise LookupError
        position = await streams.get_shard_iterator(
            **request, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last
        )
    except (LookupError, ClientError):  # never read, or trimmed past: from the oldest record
        position = await streams.get_shard_iterator(**request, ShardIteratorType="TRIM_HORIZON")
    iterator: str | None = position["ShardIterator"]
    while iterator is not None:
        page = await streams.get_records(ShardIterator=iterator, Limit=1000)
        records = page.get("Records", [])
        if records:
            last = str(records[-1]["dynamodb"]["SequenceNumber"])
        iterator = page.get("NextShardIterator")
        if not records:
            break
    return last, iterator is None


async def _rewrite(
    client: DynamoDBClient, table: str, changes: list[Difference]
) -> tuple[int, int]:
    """Put each differing counter item with its recounted value (delete it when zero)."""
    requests: list[dict[str, Any]] = []
    for change in changes:
        (pk, sk), (count, value) = change.key, change.recounted
        if count or value:
            item = {"pk": pk, "sk": sk, "count": count, "totalValue": value}
            requests.append({"PutRequest": {"Item": to_item(item)}})
        else:
            requests.append({"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}})
    for start in range(0, len(requests), BATCH_WRITE):
        await _batch_write(client, table, requests[start : start + BATCH_WRITE])
    deleted = sum(1 for request in requests if "DeleteRequest" in request)
    return len(requests) - deleted, deleted


async def _batch_write(client: DynamoDBClient, table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    for attempt in range(10):
        response = await client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
    raise RuntimeError(f"DynamoDB kept {len(pending[table])} counter writes unprocessed; run again")
