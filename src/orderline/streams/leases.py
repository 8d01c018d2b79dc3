"""Shard leases and checkpoints: one item per consumer and shard in the `stream-leases` table.

An item holds `owner` (absent: free), `leaseCounter` (bumped by every renewal and checkpoint),
`checkpoint` (the sequence number of the last record applied) and `finished` (the shard was
closed and read to its end).

- **Taking a lease**: a missing item is created with `attribute_not_exists`; a free one is taken
  on the counter it was seen with. A held lease expires when its counter has not moved for
  `duration` seconds *as this process observed it* (the KCL's rule: no clock is compared between
  machines); it is then taken over on `owner = :old AND leaseCounter = :seen`, so of two readers
  trying at once only one succeeds.
- **Holding it**: the holder bumps the counter every `duration / 3` (a checkpoint bumps it too),
  on `owner = :me`; a refusal means it was taken over, and the shard is dropped.
- **Checkpoints** (`Checkpoint.advance`) are written on `checkpoint = :previous` (and, with a
  lease, `owner = :me`), in the same transaction as the effects of the records they cover. This,
  not the lease, is what makes counting exact: a crash before the transaction leaves both
  unchanged; a redelivered or concurrently read record finds the checkpoint moved and is refused.
  The lease only keeps two readers from doing the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.errors import is_condition_failed
from orderline.adapters.dynamodb.protocol import DynamoDBClient, ItemUpdater


class CheckpointMoved(Exception):
    """A conditional checkpoint write was refused: the lease was lost, or another reader (or a
    redelivery) already applied these records. Nothing of that write was applied."""


def lease_stream(consumer: str, stream_arn: str) -> str:
    """The partition of one consumer's leases on one stream: a new stream has new leases."""
    return f"{consumer}|{stream_arn}"


@dataclass(frozen=True)
class Checkpoint:
    """Where a consumer is in a shard, and the conditional write that moves it forward."""

    table: str
    stream: str  # lease_stream(consumer, stream ARN)
    shard_id: str
    sequence: str | None  # of the last record applied; None: nothing yet
    owner: str | None = None  # the lease holder the write is conditioned on; None: no lease

    @property
    def key(self) -> dict[str, Any]:
        return {"stream": {"S": self.stream}, "shardId": {"S": self.shard_id}}

    def advance(self, to: str, *, finished: bool = False) -> dict[str, Any]:
        """An `Update` (for TransactWriteItems, or alone for UpdateItem) moving the checkpoint to
        `to`, applied only if nobody moved it since (and this reader still holds the lease)."""
        names = {"#checkpoint": "checkpoint"}
        values: dict[str, Any] = {":to": {"S": to}}
        expression = "SET #checkpoint = :to"
        if finished:
            expression += ", finished = :true"
            values[":true"] = {"BOOL": True}
        if self.sequence is None:
            condition = "attribute_not_exists(#checkpoint)"
        else:
            condition = "#checkpoint = :previous"
            values[":previous"] = {"S": self.sequence}
        if self.owner is not None:
            condition += " AND #owner = :owner"
            names["#owner"] = "owner"
            values[":owner"] = {"S": self.owner}
            expression += " ADD leaseCounter :one"
            values[":one"] = {"N": "1"}
        return {
            "Update": {
                "TableName": self.table,
                "Key": self.key,
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def moved(self, to: str) -> Checkpoint:
        return replace(self, sequence=to)


async def write_checkpoint(
    client: ItemUpdater, checkpoint: Checkpoint, to: str, **flags: bool
) -> None:
    """Move a checkpoint on its own (a batch that counts nothing); CheckpointMoved if refused."""
    try:
        await client.update_item(**checkpoint.advance(to, **flags)["Update"])
    except ClientError as exc:
        if is_condition_failed(exc):
            raise CheckpointMoved(f"checkpoint of {checkpoint.shard_id} moved") from exc
        raise


async def read_checkpoint(
    client: DynamoDBClient, table: str, stream: str, shard_id: str
) -> str | None:
    """The stored checkpoint of a shard (consistent read); None when nothing was applied."""
    key = {"stream": {"S": stream}, "shardId": {"S": shard_id}}
    response = await client.get_item(TableName=table, Key=key, ConsistentRead=True)
    item = from_item(response["Item"]) if "Item" in response else {}
    checkpoint = item.get("checkpoint")
    return str(checkpoint) if checkpoint is not None else None


@dataclass
class _Seen:
    counter: int
    since: float


@dataclass
class Leases:
    """One reader's leases on one stream."""

    client: DynamoDBClient
    table: str
    stream: str  # lease_stream(consumer, stream ARN)
    owner: str
    duration: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)

    async def states(self) -> dict[str, dict[str, Any]]:
        """Every lease item of the stream, by shard id (one consistent Query)."""
        items: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#stream = :stream",
            "ExpressionAttributeNames": {"#stream": "stream"},
            "ExpressionAttributeValues": {":stream": {"S": self.stream}},
            "ConsistentRead": True,
        }
        while True:
            response = await self.client.query(**request)
            for raw in response.get("Items", []):
                item = from_item(raw)
                items[item["shardId"]] = item
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def acquire(
        self, shard_ids: Iterable[str], states: dict[str, dict[str, Any]]
    ) -> list[Checkpoint]:
        """Take whichever of these shards' leases is missing, free or expired; return the
        checkpoints of the leases now held (those held already included)."""
        held = []
        for shard_id in shard_ids:
            state = states.get(shard_id)
            if state is not None and state.get("finished"):
                continue
            if await self._take(shard_id, state):
                sequence = state.get("checkpoint") if state else None
                held.append(self.checkpoint(shard_id, str(sequence) if sequence else None))
        return held

    def checkpoint(self, shard_id: str, sequence: str | None) -> Checkpoint:
        return Checkpoint(self.table, self.stream, shard_id, sequence, self.owner)

    async def renew(self, shard_id: str) -> bool:
        """Bump the counter of a lease this reader holds; False when it was taken over."""
        return await self._update(
            shard_id, "ADD leaseCounter :one", "#owner = :me", {":one": {"N": "1"}}
        )

    async def release(self, shard_id: str) -> None:
        """Give a lease up (at shutdown), so another reader takes it without waiting."""
        await self._update(
            shard_id, "REMOVE #owner ADD leaseCounter :one", "#owner = :me", {":one": {"N": "1"}}
        )

    async def seize(self, shard_id: str) -> None:
        """Take a lease whoever holds it (`counters rebuild`): the holder's next checkpoint or
        renewal is refused, so it stops reading the shard."""
        await self._write(
            {
                "TableName": self.table,
                "Key": {"stream": {"S": self.stream}, "shardId": {"S": shard_id}},
                "UpdateExpression": "SET #owner = :me ADD leaseCounter :one",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":me": {"S": self.owner}, ":one": {"N": "1"}},
            }
        )

    async def hand_back(self, shard_id: str, sequence: str | None, *, finished: bool) -> None:
        """Set a seized lease's checkpoint and give the lease up."""
        values: dict[str, Any] = {":one": {"N": "1"}, ":finished": {"BOOL": finished}}
        expression = "SET finished = :finished" + (", #checkpoint = :to" if sequence else "")
        expression += " REMOVE #owner ADD leaseCounter :one"
        names = {"#owner": "owner"}
        if sequence:
            values[":to"] = {"S": sequence}
            names["#checkpoint"] = "checkpoint"
        await self._write(
            {
                "TableName": self.table,
                "Key": {"stream": {"S": self.stream}, "shardId": {"S": shard_id}},
                "UpdateExpression": expression,
                "ConditionExpression": "#owner = :me",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":me": {"S": self.owner}, **values},
            }
        )

    async def _take(self, shard_id: str, state: dict[str, Any] | None) -> bool:
        if state is None:
            return await self._write(
                {
                    "TableName": self.table,
                    "Item": {
                        "stream": {"S": self.stream},
                        "shardId": {"S": shard_id},
                        "owner": {"S": self.owner},
                        "leaseCounter": {"N": "1"},
                    },
                    "ConditionExpression": "attribute_not_exists(shardId)",
                },
                put=True,
            )
        owner, counter = state.get("owner"), int(state.get("leaseCounter", 0))
        if owner == self.owner:
            return True
        if owner and not self._expired(shard_id, counter):
            return False
        values = {":one": {"N": "1"}}
        if "leaseCounter" in state:
            condition = "leaseCounter = :seen AND "
            values[":seen"] = {"N": str(counter)}
        else:  # an item only the Lambda handler wrote (a checkpoint, no lease)
            condition = "attribute_not_exists(leaseCounter) AND "
        if owner:
            condition += "#owner = :old"
            values[":old"] = {"S": owner}
        else:
            condition += "attribute_not_exists(#owner)"
        taken = await self._update(
            shard_id, "SET #owner = :me ADD leaseCounter :one", condition, values
        )
        self._seen.pop(shard_id, None)
        return taken

    def _expired(self, shard_id: str, counter: int) -> bool:
        """Whether a lease's counter has stood still for `duration` as seen from here."""
        now = self.clock()
        seen = self._seen.get(shard_id)
        if seen is None or seen.counter != counter:
            self._seen[shard_id] = _Seen(counter, now)
            return False
        return now - seen.since >= self.duration

    async def _update(
        self, shard_id: str, expression: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """A conditional UpdateItem of a lease; every caller names `#owner` and `:me`."""
        return await self._write(
            {
                "TableName": self.table,
                "Key": {"stream": {"S": self.stream}, "shardId": {"S": shard_id}},
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":me": {"S": self.owner}, **values},
            }
        )

    async def _write(self, request: dict[str, Any], *, put: bool = False) -> bool:
        """A conditional write; False when its condition did not hold."""
        try:
            if put:
                await self.client.put_item(**request)
            else:
                await self.client.update_item(**request)
        except ClientError as exc:
            if is_condition_failed(exc):
                return False
            raise
        return True
