"""The parts of the stream reader and the aggregator that need no DynamoDB: lineage, sequence
order, what an entry counts, and how records are cut into transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.keys import counter_shard
from orderline.streams.counting import MAX_TRANSACTION_ITEMS, entry_counts, runs
from orderline.streams.leases import Checkpoint
from orderline.streams.shards import Shard, after, readable


def shard(shard_id: str, parent: str | None = None, closed: bool = False) -> Shard:
    return Shard(shard_id, parent, "100", "200" if closed else None)


def test_a_child_shard_waits_for_its_parent_to_be_finished() -> None:
    shards = [shard("a", closed=True), shard("b", "a"), shard("c", "a"), shard("d", "x")]
    assert [s.shard_id for s in readable(shards, finished=set())] == ["a", "d"]  # x: trimmed
    assert [s.shard_id for s in readable(shards, finished={"a"})] == ["b", "c", "d"]


def test_sequence_numbers_compare_as_numbers_whatever_their_width() -> None:
    assert after("000000000000000000010", "9")  # DynamoDB Local pads to 21 digits
    assert not after("1100000000017454423009", "1100000000017454423009")
    assert after("5", None)


def entry(kind: str, status: str, previous: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "orderId": "6f1c1a9e-0000-4000-8000-000000000001",
        "eventType": kind,
        "status": status,
        "previousStatus": previous,
        "totalAmount": Decimal("12.50"),
        "timestamp": "2026-01-15T12:34:56.000000Z",
        "restaurantId": "r-1",
        **extra,
    }


def test_an_entry_counts_for_every_restaurant_and_for_its_own() -> None:
    order = entry("OrderStatusChanged", "CONFIRMED", "PENDING")
    shard_no = counter_shard(order["orderId"], 4)
    counts = {key: (n, v) for key, n, v in entry_counts(order, 4)}
    assert counts == {
        (f"CONFIRMED#{shard_no}", "2026-01-15T12"): (1, Decimal("12.50")),
        (f"CONFIRMED#{shard_no}#r-1", "2026-01-15T12"): (1, Decimal("12.50")),
        (f"current#{shard_no}", "PENDING"): (-1, Decimal(0)),
        (f"current#{shard_no}", "CONFIRMED"): (1, Decimal(0)),
        (f"current#{shard_no}#r-1", "PENDING"): (-1, Decimal(0)),
        (f"current#{shard_no}#r-1", "CONFIRMED"): (1, Decimal(0)),
    }
    deleted = entry("OrderDeleted", "CONFIRMED")
    assert [(k[1], n) for k, n, _ in entry_counts(deleted, 4)] == [("CONFIRMED", -1)] * 2
    assert entry_counts(entry("OrderUpdated", "CONFIRMED"), 4) == []
    no_restaurant = entry("OrderPlaced", "PENDING", restaurantId=None)
    assert len(entry_counts(no_restaurant, 4)) == 2  # the hourly counter and the gauge, once


def record(sequence: int, image: dict[str, Any], name: str = "INSERT") -> dict[str, Any]:
    return {
        "eventName": name,
        "dynamodb": {"SequenceNumber": str(sequence), "NewImage": to_item(image)},
    }


def test_runs_fit_one_transaction_and_never_split_a_record() -> None:
    records = [
        record(n, entry("OrderPlaced", "PENDING", restaurantId=f"r-{n}")) for n in range(1, 61)
    ]
    records.append(record(61, entry("OrderPlaced", "PENDING"), name="MODIFY"))  # moto's no-op put
    cut = list(runs(records, 4))
    assert all(len(run.sums) < MAX_TRANSACTION_ITEMS for run in cut)
    assert sum(len(run.entries) for run in cut) == 60  # the MODIFY counts nothing
    assert cut[-1].last_sequence == "61"  # but the checkpoint moves past it
    placed = sum(total.count for run in cut for key, total in run.sums.items() if "#r-" in key[0])
    assert placed == 2 * 60  # the restaurant's hourly counter and gauge, every record


def test_a_checkpoint_moves_only_from_where_it_was_and_for_its_lease_holder() -> None:
    first = Checkpoint("leases", "counters|arn", "shard-1", None, owner="me")
    update = first.advance("7")["Update"]
    assert update["ConditionExpression"] == "attribute_not_exists(#checkpoint) AND #owner = :owner"
    assert "ADD leaseCounter :one" in update["UpdateExpression"]  # a checkpoint renews the lease
    lambda_side = Checkpoint("leases", "counters|arn", "shard-1", "7").advance("9")["Update"]
    assert lambda_side["ConditionExpression"] == "#checkpoint = :previous"
    assert lambda_side["ExpressionAttributeValues"][":previous"] == {"S": "7"}
