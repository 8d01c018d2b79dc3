"""Bound moto's DynamoDB Streams: drop records as AWS does, instead of keeping them forever.

moto appends every stream record to a list that is never trimmed, so the embedded emulator of
`orderline serve` grows by every change it ever saw. AWS keeps a record 24 hours; here a shard
drops a record once it is older than `RETENTION_SECONDS`, or once it was handed out by
GetRecords and `KEEP_READ` newer records were handed out after it (a reader restarting from its
checkpoint resumes a little behind what it had read, so some read records stay). Records nobody
read are kept for the whole retention.

Sequence numbers stay those moto gave (a shard counts the records it dropped), `TRIM_HORIZON` is
the oldest record kept, and a position before it is a `TrimmedDataAccessException`, from
GetShardIterator and from GetRecords, like AWS. Installed by `emulator_patch.install()`.
"""

from __future__ import annotations

import time
from typing import Any

RETENTION_SECONDS = 24 * 60 * 60  # AWS: a stream record is readable for 24 hours
KEEP_READ = 10_000  # records already handed out by GetRecords that a shard keeps
TRIM_CHUNK = 500  # read records dropped together (one list move per chunk, not per record)


def trimmed(shard: Any) -> int:
    """How many records the shard dropped from its start."""
    return int(getattr(shard, "trimmed", 0))


def first_kept(shard: Any) -> int:
    """Sequence number of the oldest record the shard still holds (or of its next one)."""
    return int(shard.starting_sequence_number) + trimmed(shard)


def end(shard: Any) -> int:
    """Records the shard ever held: the position its next record takes."""
    return trimmed(shard) + len(shard.items)


def truncate(shard: Any, position: int) -> None:
    """Forget the records from `position` (counted from the shard's first record ever) on."""
    del shard.items[max(0, position - trimmed(shard)) :]


def trim(shard: Any, now: float | None = None) -> int:
    """Drop what the policy allows from the start of the shard; the number dropped."""
    now = time.monotonic() if now is None else now
    read = max(0, getattr(shard, "read_to", 0) - trimmed(shard))
    drop = read - KEEP_READ if read - KEEP_READ >= TRIM_CHUNK else 0
    items = shard.items
    while drop < len(items) and getattr(items[drop], "added", now) <= now - RETENTION_SECONDS:
        drop += 1
    if drop:
        del items[:drop]
        shard.trimmed = trimmed(shard) + drop
    return drop


def install() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models.table import StreamRecord, StreamShard
    from moto.dynamodbstreams import models

    class TrimmedData(JsonRESTError):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                "TrimmedDataAccessException",
                "The operation attempted to read past the oldest stream record in a shard.",
            )

    def add(self: Any, old: Any, new: Any) -> None:
        view = self.table.stream_specification["StreamViewType"]
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        record = StreamRecord(self.table, view, event, old, new, first_kept(self) + len(self.items))
        record.added = time.monotonic()
        self.items.append(record)
        _deliver_to_lambda(self)
        trim(self)

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        begin = start - first_kept(self)
        if begin < 0:
            raise TrimmedData()
        return [record.to_json() for record in self.items[begin : begin + quantity]]

    original_init = models.ShardIterator.__init__

    def init(self: Any, backend: Any, shard: Any, kind: str, sequence: Any = None) -> None:
        original_init(self, backend, shard, kind, sequence)
        if kind in ("TRIM_HORIZON", "LATEST"):
            self.sequence_number += trimmed(shard)

    original_iterator_get = models.ShardIterator.get

    def iterator_get(self: Any, limit: int = 1000) -> dict[str, Any]:
        result: dict[str, Any] = original_iterator_get(self, limit)
        shard = self.stream_shard
        reached = self.sequence_number - int(shard.starting_sequence_number)
        shard.read_to = max(getattr(shard, "read_to", 0), reached + len(result["Records"]))
        trim(shard)
        return result

    original_get_shard_iterator = models.DynamoDBStreamsBackend.get_shard_iterator

    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        iterator = original_get_shard_iterator(self, *args, **kwargs)
        if iterator.sequence_number < first_kept(iterator.stream_shard):
            self.shard_iterators.pop(iterator.arn, None)
            raise TrimmedData()
        return iterator

    StreamShard.add = add
    StreamShard.get = get
    models.ShardIterator.__init__ = init
    models.ShardIterator.get = iterator_get
    models.DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator


def _deliver_to_lambda(shard: Any) -> None:
    """moto's own Lambda event source mappings (unused by Orderline), kept as moto has them:
    records a mapping accepted leave the shard."""
    from moto.awslambda.utils import get_backend

    result = None
    for arn, mapping in shard.table.lambda_event_source_mappings.items():
        region = arn.split(":")[3]
        result = get_backend(shard.account_id, region).send_dynamodb_items(
            arn, shard.items, mapping.event_source_arn
        )
    if result:
        shard.trimmed = trimmed(shard) + len(shard.items)
        shard.items = []
