"""The embedded emulator stays bounded: moto's shards drop records as AWS does (24 h, or once
read), positions before the trim are `TrimmedDataAccessException`, and our reader recovers; and
moto keeps no list of every item it ever made.

moto only: the trim is a patch of moto's (`emulator_trim.py`); DynamoDB Local keeps its own.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import REGISTRY

from orderline import emulator_trim
from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.tables import STREAM_TABLES, ReadModelTables
from orderline.config import Settings
from orderline.embedded import embedded_dynamodb
from orderline.readmodel.projector import Projector
from orderline.streams.counters import ConsumerOptions, CounterAggregator, CounterConsumer
from orderline.streams.reader import ReaderPolicy
from orderline.streams.shards import stream_of

from ..helpers.counting import settled
from ..helpers.dynamodb import new_prefix
from ..helpers.factories import history

FAST = ConsumerOptions(
    lease_seconds=1.0, reader=ReaderPolicy(poll_seconds=0.05, discover_seconds=0.3)
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with embedded_dynamodb() as endpoint:
        yield endpoint


@pytest.fixture
async def clients(moto_endpoint: str) -> AsyncIterator[tuple[Any, Any, str]]:
    settings = Settings(dynamodb_endpoint=moto_endpoint)
    async with dynamodb_client(settings) as dynamodb, streams_client(settings) as streams:
        prefix = new_prefix()
        await ensure_tables(dynamodb, prefix)
        await ensure_tables(dynamodb, prefix, STREAM_TABLES)
        yield dynamodb, streams, prefix


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_trim, "KEEP_READ", 6)
    monkeypatch.setattr(emulator_trim, "TRIM_CHUNK", 3)


async def project(dynamodb: Any, prefix: str, orders: int, seed: int) -> None:
    """`orders` orders of three history entries each (placed, advanced twice)."""
    await Projector(dynamodb, prefix).project(
        history([["advance", "advance"]] * orders, random.Random(seed))
    )


async def iterator(streams: Any, arn: str, kind: str, sequence: str | None = None) -> str:
    (shard,) = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    request = {"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": kind}
    if sequence is not None:
        request["SequenceNumber"] = sequence
    return str((await streams.get_shard_iterator(**request))["ShardIterator"])


def sequences(response: dict[str, Any]) -> list[int]:
    return [int(record["dynamodb"]["SequenceNumber"]) for record in response["Records"]]


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.mark.usefixtures("small_shards")
async def test_read_records_beyond_the_kept_ones_are_trimmed_and_numbers_go_on(
    clients: tuple[Any, Any, str],
) -> None:
    dynamodb, streams, prefix = clients
    arn = await stream_of(dynamodb, ReadModelTables.under(prefix).log)
    await project(dynamodb, prefix, 4, 1)  # 12 records
    early = await iterator(streams, arn, "TRIM_HORIZON")
    first = await streams.get_records(ShardIterator=await iterator(streams, arn, "TRIM_HORIZON"))
    read = sequences(first)  # all 12 read: the shard drops the 6 oldest, keeps 6
    assert len(read) == 12 and read == list(range(read[0], read[0] + 12))
    await project(dynamodb, prefix, 1, 2)
    kept = await streams.get_records(ShardIterator=await iterator(streams, arn, "TRIM_HORIZON"))
    assert sequences(kept) == list(range(read[6], read[-1] + 4))  # the numbers go on unchanged
    # 15 records read now: the shard keeps the newest 6 (it drops 3 at a time)
    with pytest.raises(ClientError) as refused:
        await iterator(streams, arn, "AFTER_SEQUENCE_NUMBER", str(read[7]))
    assert error_code(refused) == "TrimmedDataAccessException"
    after_trim = await iterator(streams, arn, "AFTER_SEQUENCE_NUMBER", str(read[8]))
    assert sequences(await streams.get_records(ShardIterator=after_trim))[0] == read[9]
    with pytest.raises(ClientError) as stale:  # an iterator handed out before the trim
        await streams.get_records(ShardIterator=early)
    assert error_code(stale) == "TrimmedDataAccessException"


async def test_unread_records_stay_for_the_retention_then_go(
    clients: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, streams, prefix = clients
    arn = await stream_of(dynamodb, ReadModelTables.under(prefix).log)
    monkeypatch.setattr(emulator_trim, "KEEP_READ", 0)
    await project(dynamodb, prefix, 3, 3)
    at_start = await iterator(streams, arn, "TRIM_HORIZON")
    shard = shard_of(arn)
    assert len(shard.items) == 9  # unread: kept however few records a shard keeps once read
    for record in shard.items[:6]:
        record.added -= emulator_trim.RETENTION_SECONDS  # as if written 24 hours ago
    await project(dynamodb, prefix, 1, 4)
    assert len(shard.items) == 6
    with pytest.raises(ClientError) as refused:
        await streams.get_records(ShardIterator=at_start)
    assert error_code(refused) == "TrimmedDataAccessException"


@pytest.mark.usefixtures("small_shards")
async def test_a_reader_whose_checkpoint_was_trimmed_reports_it_and_reads_on(
    clients: tuple[Any, Any, str],
) -> None:
    dynamodb, streams, prefix = clients
    counting = CounterConsumer(dynamodb, streams, CounterAggregator(dynamodb, prefix), prefix, FAST)
    await project(dynamodb, prefix, 2, 5)
    assert await counting.catch_up() == 6
    await project(dynamodb, prefix, 2, 6)
    shard = shard_of(await stream_of(dynamodb, ReadModelTables.under(prefix).log))
    for record in shard.items:  # written and unread: the reader was away for 24 hours
        record.added -= emulator_trim.RETENTION_SECONDS
    await project(dynamodb, prefix, 3, 7)
    assert len(shard.items) == 9  # the 6 unread for too long are gone, with the 6 read
    lost = sample("orderline_stream_trimmed_total", consumer="counters")
    assert await counting.catch_up() == 9  # what is left, from the oldest record kept
    assert sample("orderline_stream_trimmed_total", consumer="counters") == lost + 1
    assert await counting.catch_up() == 0
    with pytest.raises(AssertionError, match="counters differ"):  # 6 entries were not counted
        await settled(dynamodb, prefix, seconds=0.5)


def shard_of(arn: str) -> Any:
    """moto's shard of a stream (the emulator runs in this process)."""
    from moto.dynamodb.models import dynamodb_backends

    table = arn.split(":", 6)[5].split("/")[1]
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            if table in backend.tables:
                return backend.tables[table].stream_shard
    raise LookupError(table)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_replaced_items_are_not_kept_by_the_emulator(clients: tuple[Any, Any, str]) -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    dynamodb, _, prefix = clients
    table = ReadModelTables.under(prefix).status
    for version in range(30):  # the same item replaced: moto used to keep every version
        item = {"orderId": {"S": "o-1"}, "version": {"N": str(version)}, "pad": {"S": "x" * 100}}
        await dynamodb.put_item(TableName=table, Item=item)
    assert len(Item.instances_tracked) == len(StreamRecord.instances_tracked) == 0
