"""A stream's shards and their lineage: which may be read now (a parent before its children)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from orderline.adapters.dynamodb.protocol import DynamoDBClient, DynamoDBStreamsClient


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_sequence: str
    ending_sequence: str | None  # set once DynamoDB has closed the shard

    @classmethod
    def described(cls, shard: dict[str, Any]) -> Shard:
        """A shard as DescribeStream lists it."""
        numbers = shard.get("SequenceNumberRange", {})
        return cls(
            shard_id=shard["ShardId"],
            parent_id=shard.get("ParentShardId"),
            starting_sequence=numbers.get("StartingSequenceNumber", "0"),
            ending_sequence=numbers.get("EndingSequenceNumber"),
        )


def after(sequence: str, checkpoint: str | None) -> bool:
    """Whether a record's sequence number comes after a checkpoint (None: before everything).

    Sequence numbers are decimal strings of up to 40 digits, not always of one width (DynamoDB
    Local pads them to 21, moto to 22): compare them as numbers."""
    return checkpoint is None or int(sequence) > int(checkpoint)


def readable(shards: Sequence[Shard], finished: Collection[str]) -> list[Shard]:
    """The shards that may be read now: not finished, and whose parent is finished or no longer
    listed (trimmed after 24 hours, so read to its end long ago or lost either way)."""
    listed = {shard.shard_id for shard in shards}
    return [
        shard
        for shard in shards
        if shard.shard_id not in finished
        and (
            shard.parent_id is None or shard.parent_id not in listed or shard.parent_id in finished
        )
    ]


async def describe(streams: DynamoDBStreamsClient, stream_arn: str) -> list[Shard]:
    """Every shard of a stream (DescribeStream pages through them 100 at a time)."""
    shards: list[Shard] = []
    request: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = (await streams.describe_stream(**request))["StreamDescription"]
        shards += [Shard.described(shard) for shard in description.get("Shards", [])]
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shards
        request["ExclusiveStartShardId"] = last


async def stream_of(dynamodb: DynamoDBClient, table: str) -> str:
    """The ARN of a table's current stream; ValueError when the table has none."""
    description = (await dynamodb.describe_table(TableName=table))["Table"]
    arn = description.get("LatestStreamArn")
    if not arn or not description.get("StreamSpecification", {}).get("StreamEnabled"):
        raise ValueError(f"table {table} has no stream enabled")
    return str(arn)
