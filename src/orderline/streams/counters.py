"""The counter aggregator: the history table's stream -> status counters and gauges, exactly once.

`CounterAggregator.apply` is the stream reader's handler (and the Lambda handler's): it sums a
shard's records per counter item (`counting.runs`) and writes each run's sums **together with
the shard's checkpoint** in one TransactWriteItems conditioned on the previous checkpoint. A
crash before the write leaves both as they were; a redelivered batch, or one a second reader
applied first, is refused by the condition (`CheckpointMoved`), so nothing counts twice and
nothing is skipped. A run that counts nothing moves the checkpoint with a plain UpdateItem.

`CounterConsumer` runs the reader on the stream with that handler: inside `serve`, in
`orderline aggregate`, and once per test through `catch_up`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from orderline import metrics
from orderline.adapters.dynamodb.codec import to_attribute
from orderline.adapters.dynamodb.protocol import (
    CountingWriter,
    DynamoDBClient,
    DynamoDBStreamsClient,
)
from orderline.adapters.dynamodb.tables import STREAM_LEASES, ReadModelTables
from orderline.readmodel.documents import parse_instant

from .counting import Run, runs
from .leases import Checkpoint, CheckpointMoved, Leases, lease_stream, write_checkpoint
from .reader import ReaderPolicy, ShardBatch, StreamGone, StreamReader
from .shards import stream_of

log = logging.getLogger(__name__)
CONSUMER = "counters"  # the lease partition and metrics label of the counter aggregator
CONFLICT_RETRIES = 5
RETRYABLE_REASONS = frozenset({"None", "TransactionConflict", "ThrottlingError"})


def counter_update(table: str, pk: str, sk: str, count: int, value: Decimal) -> dict[str, Any]:
    """A transaction's `ADD count, totalValue` on one counter item (totalValue when non-zero)."""
    expression, values = "ADD #count :count", {":count": to_attribute(count)}
    names = {"#count": "count"}
    if value:
        expression += ", #value :value"
        values[":value"] = to_attribute(value)
        names["#value"] = "totalValue"
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


class CounterAggregator:
    def __init__(
        self,
        client: CountingWriter,
        prefix: str,
        *,
        shards: int = 4,
        on_counted: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = ReadModelTables.under(prefix).metrics
        self._shards = shards
        self._on_counted = on_counted  # told after counts changed (drops cached counts)
        self._clock = clock

    async def apply(self, batch: ShardBatch) -> Checkpoint:
        """Count a batch of one shard's records; return the checkpoint after it."""
        checkpoint = batch.checkpoint
        for run in runs(batch.records, self._shards):
            await self._commit(checkpoint, run)
            checkpoint = checkpoint.moved(run.last_sequence)
        return checkpoint

    async def _commit(self, checkpoint: Checkpoint, run: Run) -> None:
        sums = run.nonzero()
        if not sums:
            await write_checkpoint(self._client, checkpoint, run.last_sequence)
            return
        items = [
            counter_update(self._table, pk, sk, total.count, total.value)
            for (pk, sk), total in sums.items()
        ]
        items.append(checkpoint.advance(run.last_sequence))
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                await self._client.transact_write_items(TransactItems=items)
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [
                    r.get("Code", "None") for r in exc.response.get("CancellationReasons") or []
                ]
                if reasons and reasons[-1] == "ConditionalCheckFailed":
                    raise CheckpointMoved(f"checkpoint of {checkpoint.shard_id} moved") from exc
                if attempt == CONFLICT_RETRIES or not set(reasons) <= RETRYABLE_REASONS:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        self._observe(run)

    def _observe(self, run: Run) -> None:
        now = self._clock()
        for entry in run.entries:
            lag = (now - parse_instant(str(entry["timestamp"]))).total_seconds()
            metrics.COUNTER_LAG.observe(max(0.0, lag))
        metrics.COUNTED_RECORDS.inc(len(run.entries))
        if self._on_counted is not None:
            self._on_counted()


def reader_identity() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ConsumerOptions:
    lease_seconds: float = 10.0
    reader: ReaderPolicy = field(default_factory=ReaderPolicy)


class CounterConsumer:
    """The aggregator reading the history table's stream; finds the stream again if the table
    is recreated."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        aggregator: CounterAggregator,
        prefix: str,
        options: ConsumerOptions | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self.streams = streams  # the Streams client
        self.aggregator = aggregator
        self._history = ReadModelTables.under(prefix).log
        self._leases_table = STREAM_LEASES.table_name(prefix)
        self._options = options or ConsumerOptions()
        self.owner = reader_identity()
        self.reader: StreamReader | None = None

    def wake(self) -> None:
        """This process just projected history entries: read the stream now."""
        if self.reader is not None:
            self.reader.wake()

    async def open(self) -> StreamReader:
        """The reader of the history table's current stream."""
        arn = await stream_of(self._dynamodb, self._history)
        if self.reader is None or self.reader.stream_arn != arn:
            leases = Leases(
                self._dynamodb,
                self._leases_table,
                lease_stream(CONSUMER, arn),
                self.owner,
                duration=self._options.lease_seconds,
            )
            self.reader = StreamReader(
                self.streams, arn, leases, consumer=CONSUMER, policy=self._options.reader
            )
        return self.reader

    async def catch_up(self) -> int:
        """Count everything the stream holds now (tests, and `counters rebuild`'s neighbours)."""
        reader = await self.open()
        try:
            return await reader.catch_up(self.aggregator.apply)
        finally:
            await reader.release()

    async def run(self, stop: asyncio.Event) -> None:
        """The worker loop: count until `stop` is set, finishing the batch in hand."""
        failures = 0
        while not stop.is_set():
            try:
                reader = await self.open()
                await reader.run(self.aggregator.apply, stop)
            except Exception as exc:  # DynamoDB down, the table or its stream missing
                failures += 1
                log.warning("counter aggregation paused (%s); retrying", exc)
                self.reader = None if isinstance(exc, StreamGone) else self.reader
                try:
                    await asyncio.wait_for(stop.wait(), min(30.0, 0.5 * 2**failures))
                except TimeoutError:
                    continue
