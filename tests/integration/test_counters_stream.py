"""Counters counted from the history table's stream, exactly once: competing aggregators,
restarts, expired iterators, lease takeover, the Lambda handler and `counters rebuild`."""

from __future__ import annotations

import asyncio
import base64
import random
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import ORDER_STATUS_METRICS
from orderline.readmodel.projector import Projector
from orderline.streams import recount
from orderline.streams.counters import ConsumerOptions, CounterAggregator, CounterConsumer
from orderline.streams.lambda_handler import handle_batch
from orderline.streams.leases import Checkpoint, CheckpointMoved
from orderline.streams.reader import ReaderPolicy, ShardBatch, StreamReader

from ..helpers.counting import lambda_event, settled
from ..helpers.factories import history

FAST = ConsumerOptions(
    lease_seconds=1.0, reader=ReaderPolicy(poll_seconds=0.05, discover_seconds=0.3)
)


class RecordingAggregator(CounterAggregator):
    """Remembers the sequence numbers of every batch it applied completely."""

    def __init__(self, client: Any, prefix: str, applied: list[str]) -> None:
        super().__init__(client, prefix)
        self.applied = applied

    async def apply(self, batch: ShardBatch) -> Checkpoint:
        checkpoint = await super().apply(batch)
        self.applied += [record["dynamodb"]["SequenceNumber"] for record in batch.records]
        return checkpoint


def consumer(
    client: Any, streams: Any, prefix: str, applied: list[str] | None = None
) -> CounterConsumer:
    aggregator = RecordingAggregator(client, prefix, [] if applied is None else applied)
    return CounterConsumer(client, streams, aggregator, prefix, FAST)


def events_of(orders: int, seed: int) -> list[dict[str, Any]]:
    return history([["advance", "advance"]] * orders, random.Random(seed))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_two_aggregators_started_together_count_each_entry_once(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    applied: list[str] = []
    first, second = (consumer(dynamodb, streams, tables, applied) for _ in range(2))
    stop = asyncio.Event()
    running = [asyncio.create_task(c.run(stop)) for c in (first, second)]
    try:
        projector = Projector(dynamodb, tables)
        events = events_of(40, 11)
        for start in range(0, len(events), 10):
            await projector.project(events[start : start + 10])
            await asyncio.sleep(0.05)
        await settled(dynamodb, tables)
    finally:
        stop.set()
        await asyncio.gather(*running)
    assert len(applied) == len(set(applied)) == len(events)  # each entry applied by one reader


async def test_a_restarted_aggregator_resumes_after_its_checkpoint(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    projector = Projector(dynamodb, tables)
    await projector.project(events_of(5, 12))
    assert await consumer(dynamodb, streams, tables).catch_up() == 15
    later = events_of(3, 13)
    await projector.project(later)
    restarted = consumer(dynamodb, streams, tables)  # another reader: only the checkpoint tells
    assert await restarted.catch_up() == len(later)  # read from after the checkpoint only
    await settled(dynamodb, tables, seconds=5)


async def test_a_batch_applied_again_counts_nothing(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    await Projector(dynamodb, tables).project(events_of(3, 14))
    reader = await consumer(dynamodb, streams, tables).open()
    batches: list[ShardBatch] = []

    async def keep(batch: ShardBatch) -> Checkpoint:
        batches.append(batch)
        return await CounterAggregator(dynamodb, tables).apply(batch)

    await reader.catch_up(keep)
    counted = await recount.stored_counts(dynamodb, tables)
    with pytest.raises(CheckpointMoved):
        await CounterAggregator(dynamodb, tables).apply(batches[0])  # as after a crash
    assert await recount.stored_counts(dynamodb, tables) == counted


def stale(iterator: str) -> str:
    """The same position as if handed out 16 minutes ago (iterators live 15). DynamoDB Local's
    iterators carry their creation time; moto's live in this process (the embedded emulator)."""
    head, _, body = iterator.rpartition("|")
    if "|001|" in iterator:  # DynamoDB Local: base64 of shard|sequence|created (ms)
        shard, sequence, millis = base64.b64decode(body).decode().split("|")
        aged = f"{shard}|{sequence}|{int(millis) - 16 * 60 * 1000:0{len(millis)}d}"
        return f"{head}|{base64.b64encode(aged.encode()).decode()}"
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    for regions in dynamodbstreams_backends.values():
        for backend in regions.values():
            if iterator in backend.shard_iterators:
                backend.shard_iterators[iterator].created -= 16 * 60
                return iterator
    raise LookupError("iterator of an unknown emulator")


async def test_an_expired_iterator_is_renewed_from_the_checkpoint(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    projector = Projector(dynamodb, tables)
    await projector.project(events_of(4, 15))
    counting = consumer(dynamodb, streams, tables)
    reader = await counting.open()
    await reader.catch_up(counting.aggregator.apply)
    (cursor,) = reader.cursors.values()
    assert cursor.iterator is not None
    cursor.iterator = stale(cursor.iterator)
    await projector.project(events_of(2, 16))
    renewals = sample("orderline_stream_iterator_renewals_total", consumer="counters")
    assert await reader.catch_up(counting.aggregator.apply) == 6
    assert sample("orderline_stream_iterator_renewals_total", consumer="counters") == renewals + 1
    await settled(dynamodb, tables, seconds=5)


async def test_the_lease_of_a_reader_that_stopped_renewing_is_taken_over(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    projector = Projector(dynamodb, tables)
    await projector.project(events_of(3, 17))
    gone, successor = consumer(dynamodb, streams, tables), consumer(dynamodb, streams, tables)
    dead: StreamReader = await gone.open()
    await dead.catch_up(gone.aggregator.apply)  # holds the lease, then renews no more
    await projector.project(events_of(2, 18))
    reader = await successor.open()
    await reader.discover()  # held by another reader: its lease counter is noted
    assert reader.cursors == {}
    await asyncio.sleep(FAST.lease_seconds / 2)
    await reader.discover()  # the counter stood still, but not for a lease's duration yet
    assert reader.cursors == {}
    await asyncio.sleep(FAST.lease_seconds * 1.2)
    assert await reader.catch_up(successor.aggregator.apply) == 6  # taken over
    await settled(dynamodb, tables, seconds=5)
    assert await dead.catch_up(gone.aggregator.apply) == 0  # it wakes up and lets the shard go
    assert dead.cursors == {}
    await settled(dynamodb, tables, seconds=5)


async def test_the_lambda_handler_fed_the_same_batch_twice_counts_once(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    await Projector(dynamodb, tables).project(events_of(4, 19))
    event = await lambda_event(dynamodb, streams, tables)
    assert len(event["Records"]) == 12
    first_half = {**event, "Records": event["Records"][:5]}
    for delivery in (first_half, event, event):  # a retry, and a redelivery
        response = await handle_batch(delivery, dynamodb, prefix=tables, shards=4)
        assert response == {"batchItemFailures": [], "state": {}}
    await settled(dynamodb, tables, seconds=5)
    await Projector(dynamodb, tables).project(events_of(1, 24))
    # a worker takes over from the Lambda's checkpoint (same lease table): only the new entries
    assert await consumer(dynamodb, streams, tables).catch_up() == 3
    await settled(dynamodb, tables, seconds=5)


async def test_the_lambda_handler_reports_the_first_record_it_could_not_count(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    await Projector(dynamodb, tables).project(events_of(2, 20))
    event = await lambda_event(dynamodb, streams, tables)
    await dynamodb.delete_table(TableName=ORDER_STATUS_METRICS.table_name(tables))
    response = await handle_batch(event, dynamodb, prefix=tables, shards=4)
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert response["batchItemFailures"] == [{"itemIdentifier": first}]
    await ensure_tables(dynamodb, tables, (ORDER_STATUS_METRICS,))
    retried = {**event, "Records": event["Records"]}  # Lambda retries from that record
    assert (await handle_batch(retried, dynamodb, prefix=tables, shards=4))[
        "batchItemFailures"
    ] == []
    await settled(dynamodb, tables, seconds=5)


async def test_counters_rebuild_repairs_the_counters_and_counting_resumes_after_it(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    projector = Projector(dynamodb, tables)
    await projector.project(events_of(6, 21))
    await consumer(dynamodb, streams, tables).catch_up()
    metrics = ORDER_STATUS_METRICS.table_name(tables)
    (pk, sk), _ = next(iter((await recount.stored_counts(dynamodb, tables)).items()))
    await dynamodb.update_item(
        TableName=metrics,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="ADD #count :five",
        ExpressionAttributeNames={"#count": "count"},
        ExpressionAttributeValues={":five": {"N": "5"}},
    )
    await dynamodb.put_item(
        TableName=metrics,
        Item={"pk": {"S": "PENDING#0"}, "sk": {"S": "1999-01-01T00"}, "count": {"N": "7"}},
    )
    await projector.project(events_of(2, 22))  # in the stream, not counted yet
    assert len(await recount.compare(dynamodb, tables, 4)) > 2
    result = await recount.rebuild(dynamodb, streams, tables, 4, lease_seconds=1.0)
    assert (result.entries, result.deleted) == (24, 1) and result.written >= 2
    assert await recount.compare(dynamodb, tables, 4) == []
    await projector.project(events_of(1, 23))
    assert await consumer(dynamodb, streams, tables).catch_up() == 3  # only what came after
    await settled(dynamodb, tables, seconds=5)
