"""A DynamoDB Streams reader: shards and lineage, iterators, leases; batches to a handler.

    reader = StreamReader(streams_client, stream_arn, leases, consumer="counters")
    await reader.run(handle, stop)   # until `stop` is set; the batch in hand is finished first
    await reader.catch_up(handle)    # read every readable shard until a round returns nothing

`handle(batch)` gets one shard's records (`batch.records`, oldest first, all after
`batch.checkpoint`). It applies them and moves the checkpoint **in the same write**
(`batch.checkpoint.advance(last_sequence)`, see `leases.py`), and returns the checkpoint after
the batch; when that write is refused it raises `CheckpointMoved` and the reader lets the shard
go. A handler that fails otherwise leaves the shard to be re-read from its stored checkpoint.

- Shards: DescribeStream every `discover_seconds`; a child shard is read only once its parent
  is finished (read to its end, `finished` in the lease) or no longer listed.
- Positions: `TRIM_HORIZON` for a shard never read, `AFTER_SEQUENCE_NUMBER` of the checkpoint to
  resume; an `ExpiredIteratorException` (iterators live 15 minutes) gets a fresh iterator from
  the checkpoint. A checkpoint past the 24-hour retention (`TrimmedDataAccessException`) is one
  loud error line naming the repair command, and reading goes on from the oldest record kept.
- Leases (`leases.py`): at most one reader per shard; held leases are renewed in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from orderline import metrics
from orderline.adapters.dynamodb.protocol import DynamoDBStreamsClient

from .leases import Checkpoint, CheckpointMoved, Leases
from .shards import Shard, after, describe, readable

log = logging.getLogger(__name__)
RELEASE_SECONDS = 3.0  # how long a stopping reader tries to give its leases back


@dataclass(frozen=True)
class ShardBatch:
    shard_id: str
    records: list[dict[str, Any]]  # raw stream records, oldest first, each after `checkpoint`
    checkpoint: Checkpoint


Handler = Callable[[ShardBatch], Awaitable[Checkpoint]]


class StreamGone(Exception):
    """The stream no longer exists (its table was deleted or its stream turned off)."""


@dataclass
class Cursor:
    """A shard this reader holds the lease of: where it is, and how to read on."""

    shard: Shard
    checkpoint: Checkpoint
    iterator: str | None = None
    bumped: float = 0.0  # monotonic time of the last write that renewed the lease


@dataclass(frozen=True)
class ReaderPolicy:
    poll_seconds: float = 0.5  # wait when a round read nothing (and nobody woke the reader)
    discover_seconds: float = 10.0  # DescribeStream and lease takeover this often
    records_per_call: int = 1000  # GetRecords' maximum
    repair: str = "orderline counters rebuild"  # named when records were trimmed unread


def sequence_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


class StreamReader:
    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        leases: Leases,
        *,
        consumer: str,
        policy: ReaderPolicy | None = None,
    ) -> None:
        self._streams = streams
        self.stream_arn = stream_arn
        self._leases = leases
        self._consumer = consumer
        self._policy = policy or ReaderPolicy()
        self.cursors: dict[str, Cursor] = {}  # by shard id: the shards held now
        self._finished: set[str] = set()
        self._discovered = -float("inf")
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New records are likely (this process just wrote some): read without waiting."""
        self._wake.set()

    async def run(self, handle: Handler, stop: asyncio.Event) -> None:
        """Read and hand over batches until `stop` is set; then give the leases up."""
        renewer = asyncio.create_task(self._renew_until(stop))
        failures = 0
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    received = await self.poll(handle)
                    failures = 0
                except StreamGone:
                    raise
                except Exception as exc:
                    failures += 1
                    log.warning("%s: stream read failed (%s); retrying", self._consumer, exc)
                    await self._pause(stop, min(5.0, 0.1 * 2**failures))
                    continue
                if not received:
                    await self._pause(stop, self._policy.poll_seconds)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(TimeoutError):  # DynamoDB down: the leases just expire
                await asyncio.wait_for(self.release(), RELEASE_SECONDS)

    async def catch_up(self, handle: Handler) -> int:
        """Poll until a round receives no record; return the records received. On the emulators
        that is every readable shard read to its end (AWS may return an empty page earlier)."""
        await self.discover()
        total = 0
        while received := await self.poll(handle):
            total += received
        return total

    async def poll(self, handle: Handler) -> int:
        """One round: discover when due, then one GetRecords per shard held; records received."""
        every = self._policy.discover_seconds
        if not self.cursors:  # a standby reader: look for expired leases twice per duration
            every = min(every, self._leases.duration / 2)
        if time.monotonic() - self._discovered >= every:
            await self.discover()
        received = 0
        for shard_id in list(self.cursors):
            cursor = self.cursors.get(shard_id)
            if cursor is not None:
                received += await self._read(cursor, handle)
        return received

    async def discover(self) -> None:
        """List the shards, let go of leases taken over, take the readable shards' leases."""
        self._discovered = time.monotonic()
        try:
            shards = await describe(self._streams, self.stream_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise StreamGone(self.stream_arn) from exc
            raise
        states = await self._leases.states()
        self._finished |= {shard_id for shard_id, state in states.items() if state.get("finished")}
        for shard_id in list(self.cursors):
            if states.get(shard_id, {}).get("owner") != self._leases.owner:
                self._drop(shard_id, lost=True)
        by_id = {shard.shard_id: shard for shard in shards}
        wanted = [
            s.shard_id for s in readable(shards, self._finished) if s.shard_id not in self.cursors
        ]
        for checkpoint in await self._leases.acquire(wanted, states):
            self.cursors[checkpoint.shard_id] = Cursor(
                by_id[checkpoint.shard_id], checkpoint, bumped=time.monotonic()
            )
        metrics.STREAM_SHARDS_HELD.labels(self._consumer).set(len(self.cursors))

    async def release(self) -> None:
        """Give up every lease held (best effort: an unreleased lease simply expires)."""
        for shard_id in list(self.cursors):
            self.cursors.pop(shard_id, None)
            with contextlib.suppress(Exception):
                await self._leases.release(shard_id)
        metrics.STREAM_SHARDS_HELD.labels(self._consumer).set(0)

    async def _read(self, cursor: Cursor, handle: Handler) -> int:
        shard_id = cursor.shard.shard_id
        response = await self._get_records(cursor)
        records = response.get("Records", [])
        fresh = [r for r in records if after(sequence_of(r), cursor.checkpoint.sequence)]
        if fresh:
            try:
                cursor.checkpoint = await handle(ShardBatch(shard_id, fresh, cursor.checkpoint))
            except CheckpointMoved:
                self._drop(shard_id, lost=True)
                return len(records)
            except BaseException:
                self._drop(shard_id)  # re-read from the stored checkpoint after rediscovery
                raise
            cursor.bumped = time.monotonic()
            metrics.STREAM_RECORDS.labels(self._consumer).inc(len(fresh))
        cursor.iterator = response.get("NextShardIterator")
        if cursor.iterator is None and shard_id in self.cursors:
            await self._finish(cursor)
        return len(records)

    async def _get_records(self, cursor: Cursor) -> dict[str, Any]:
        for attempt in range(3):
            if cursor.iterator is None:
                cursor.iterator = await self._position(cursor)
            try:
                response: dict[str, Any] = await self._streams.get_records(
                    ShardIterator=cursor.iterator, Limit=self._policy.records_per_call
                )
                return response
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if attempt == 2 or code not in (
                    "ExpiredIteratorException",
                    "TrimmedDataAccessException",
                ):
                    raise
                if code == "ExpiredIteratorException":
                    metrics.STREAM_ITERATOR_RENEWALS.labels(self._consumer).inc()
                else:  # read again from the checkpoint: `_position` reports a real loss
                    log.info(  # DynamoDB Local refuses a new table's first iterator this way
                        "%s: iterator of shard %s refused as trimmed; repositioning",
                        self._consumer,
                        cursor.shard.shard_id,
                    )
                cursor.iterator = None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _position(self, cursor: Cursor) -> str:
        """A fresh iterator just after the checkpoint (the oldest record when there is none)."""
        request = {"StreamArn": self.stream_arn, "ShardId": cursor.shard.shard_id}
        sequence = cursor.checkpoint.sequence
        try:
            if sequence is not None:
                return await self._iterator(
                    **request, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=sequence
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TrimmedDataAccessException":
                raise
            self._report_trimmed(cursor)
        return await self._iterator(**request, ShardIteratorType="TRIM_HORIZON")

    async def _iterator(self, **request: str) -> str:
        return str((await self._streams.get_shard_iterator(**request))["ShardIterator"])

    def _report_trimmed(self, cursor: Cursor) -> None:
        metrics.STREAM_TRIMMED.labels(self._consumer).inc()
        log.error(
            "RECORDS LOST: %s read shard %s of %s past the stream's 24-hour retention "
            "(checkpoint %s); what was trimmed unread is not counted. Repair: %s",
            self._consumer,
            cursor.shard.shard_id,
            self.stream_arn,
            cursor.checkpoint.sequence,
            self._policy.repair,
        )

    async def _finish(self, cursor: Cursor) -> None:
        """A closed shard read to its end: mark it finished, so its children are read next."""
        shard = cursor.shard
        last = cursor.checkpoint.sequence or shard.ending_sequence or shard.starting_sequence
        try:
            await self._leases.client.update_item(
                **cursor.checkpoint.advance(last, finished=True)["Update"]
            )
        except ClientError as exc:
            log.info("%s: shard %s not marked finished (%s)", self._consumer, shard.shard_id, exc)
            self._drop(shard.shard_id, lost=True)
            return
        self._finished.add(shard.shard_id)
        self.cursors.pop(shard.shard_id, None)
        self._discovered = -float("inf")  # its children may be read now

    def _drop(self, shard_id: str, *, lost: bool = False) -> None:
        if self.cursors.pop(shard_id, None) is not None and lost:
            metrics.STREAM_LEASES_LOST.labels(self._consumer).inc()
            log.info("%s: lease of shard %s lost to another reader", self._consumer, shard_id)
        self._discovered = -float("inf")

    async def _renew_until(self, stop: asyncio.Event) -> None:
        interval = self._leases.duration / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            for shard_id, cursor in list(self.cursors.items()):
                if time.monotonic() - cursor.bumped < interval:
                    continue
                try:
                    renewed = await self._leases.renew(shard_id)
                except Exception as exc:
                    log.debug("lease of %s not renewed this time: %s", shard_id, exc)
                    continue
                if renewed:
                    cursor.bumped = time.monotonic()
                else:
                    self._drop(shard_id, lost=True)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
