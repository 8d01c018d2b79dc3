"""The projector on a real DynamoDB-compatible server: idempotent and order-insensitive."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import STREAM_TABLES, TABLES
from orderline.domain.order import Order
from orderline.domain.status import OrderStatus
from orderline.readmodel.projector import Projector
from orderline.streams.counters import CounterAggregator, CounterConsumer
from orderline.streams.recount import compare

from ..helpers.counting import settled
from ..helpers.dynamodb import counter_scope, new_prefix, scan
from ..helpers.factories import START, history, item, location

ACTION = st.sampled_from(["advance", "advance", "advance", "cancel", "update", "delete"])
SCRIPTS = st.lists(st.lists(ACTION, max_size=7), min_size=1, max_size=4)


def counter_consumer(client: Any, streams: Any, prefix: str) -> CounterConsumer:
    """A new aggregator (a new lease owner, as after a restart) on the prefix's history stream."""
    return CounterConsumer(client, streams, CounterAggregator(client, prefix, shards=3), prefix)


async def project_tables(
    client: Any, streams: Any, deliveries: list[list[dict[str, Any]]], rng: random.Random
) -> dict[str, Any]:
    """Project each batch, counting the counters now and then (and at the end) with a new
    aggregator each time; the tables afterwards, counter items that sum to zero left out."""
    prefix = new_prefix()
    await ensure_tables(client, prefix, (*TABLES, *STREAM_TABLES))
    for batch in deliveries:
        # a projector per batch, as after restarts: only DynamoDB's conditions can dedupe
        result = await Projector(client, prefix).project(batch)
        assert result.rejected == {}
        if rng.random() < 0.4:
            await counter_consumer(client, streams, prefix).catch_up()
    await counter_consumer(client, streams, prefix).catch_up()
    await settled(client, prefix, 3, seconds=5)
    return {
        spec.name: sorted(
            (item for item in await scan(client, spec.table_name(prefix)) if _counts(item)),
            key=_key,
        )
        for spec in TABLES
    }


def _counts(item: dict[str, Any]) -> bool:
    """Anything but a counter item whose increments summed to zero (which exists or not
    depending on how the aggregator's batches fell)."""
    return "pk" not in item or bool(item.get("count") or item.get("totalValue"))


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return (str(item.get("orderId", item.get("pk"))), str(item.get("sk", "")))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scripts=SCRIPTS, seed=st.integers(0, 2**32))
async def test_duplicated_shuffled_batches_end_in_the_in_order_read_model(
    dynamodb: Any, streams: Any, engine: AsyncEngine, scripts: list[list[str]], seed: int
) -> None:
    rng = random.Random(seed)
    events = history(scripts, rng)
    in_order = await project_tables(dynamodb, streams, [[event] for event in events], rng)

    deliveries = events + rng.choices(events, k=len(events) // 2 + 1)
    rng.shuffle(deliveries)
    batches, start = [], 0
    while start < len(deliveries):
        size = rng.randint(1, 12)
        batches.append(deliveries[start : start + size])
        start += size
    shuffled = await project_tables(dynamodb, streams, batches, rng)

    assert shuffled == in_order
    assert len(shuffled["order-status-log"]) == len(events)  # one entry per event
    truth = await sql_ground_truth(engine, events)
    assert await counters(shuffled["order-status-metrics"]) == truth
    assert await counters(shuffled["order-status-metrics"], per_restaurant=True) == truth


async def counters(
    items: list[dict[str, Any]], per_restaurant: bool = False
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Hourly counters summed over their shards: the all-restaurant ones, or the sum of the
    per-restaurant ones (which must come to the same)."""
    summed: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for entry in items:
        status, restaurant = counter_scope(entry["pk"])
        if (restaurant is not None) != per_restaurant:
            continue
        if status != "current" and entry["count"]:
            summed[(status, entry["sk"])][0] += entry["count"]
            summed[(status, entry["sk"])][1] += Decimal(entry.get("totalValue", 0))
    return {key: (count, value) for key, (count, value) in summed.items()}


async def sql_ground_truth(
    engine: AsyncEngine, events: list[dict[str, Any]]
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Entries into each status per hour, by GROUP BY over the events in PostgreSQL."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TEMPORARY TABLE events (envelope JSONB) ON COMMIT DROP"))
        await conn.execute(
            text("INSERT INTO events VALUES (CAST(:envelope AS JSONB))"),
            [{"envelope": json.dumps(event)} for event in events],
        )
        rows = await conn.execute(
            text(
                "SELECT envelope->'payload'->'order'->>'status', "
                "to_char((envelope->>'occurredAt')::timestamptz AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24'), count(*), "
                "sum((envelope->'payload'->'order'->>'totalAmount')::numeric) "
                "FROM events WHERE envelope->>'eventType' IN ('OrderPlaced', 'OrderStatusChanged') "
                "GROUP BY 1, 2"
            )
        )
        return {(status, hour): (count, total) for status, hour, count, total in rows}


async def test_current_gauge_follows_each_orders_latest_status(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    events = history([["advance", "advance"], ["cancel"], ["advance", "delete"]], random.Random(1))
    projector = Projector(dynamodb, tables)
    await projector.project(list(reversed(events)))
    await projector.project(events)  # all duplicates: nothing moves
    await counter_consumer(dynamodb, streams, tables).catch_up()
    gauge: dict[str, int] = defaultdict(int)
    for entry in await scan(dynamodb, f"{tables}order-status-metrics"):
        if counter_scope(entry["pk"]) == ("current", None):
            gauge[entry["sk"]] += entry["count"]
    assert {status: n for status, n in gauge.items() if n} == {"PROCESSING": 1, "CANCELLED": 1}


async def test_a_deleted_order_is_not_brought_back_by_an_older_event(
    dynamodb: Any, tables: str
) -> None:
    events = history([["advance", "delete"]], random.Random(2))
    projector = Projector(dynamodb, tables)
    await projector.project([events[-1]])  # the delete arrives first
    result = await projector.project(events[:-1])
    assert (result.applied, result.duplicates) == (0, 2)  # no newer than the tombstone
    assert len(await scan(dynamodb, f"{tables}order-status-log")) == 3  # history written all same
    (status,) = await scan(dynamodb, f"{tables}order-status")
    assert status["deleted"] is True and status["version"] == 3
    assert "customerId" not in status  # tombstones stay out of the GSIs


async def test_a_large_batch_is_written_in_calls_of_25_and_projecting_it_again_moves_nothing(
    dynamodb: Any, tables: str
) -> None:
    events = history([["advance"] * 4 for _ in range(30)], random.Random(3))
    assert len(events) == 150
    before = write_calls(tables)
    result = await Projector(dynamodb, tables).project(events)
    assert (result.applied, result.duplicates) == (150, 0)
    assert len(await scan(dynamodb, f"{tables}order-status-log")) == 150
    calls = since(before, tables)
    # history: 150 entries in 6 calls; each order's newest: status and details, one put each
    assert calls == {("BatchWriteItem", "ok"): 6, ("PutItem", "ok"): 60}
    again = await Projector(dynamodb, tables).project(events)
    assert (again.applied, again.duplicates) == (0, 150)
    (order_status, *_) = await scan(dynamodb, f"{tables}order-status")
    assert order_status["version"] == 5


async def test_invalid_events_are_rejected_by_position_and_the_rest_applied(
    dynamodb: Any, tables: str
) -> None:
    good = history([["advance"]], random.Random(4))
    broken = dict(good[1], eventType="OrderExploded")
    missing = {**good[0], "payload": {"order": {"id": good[0]["orderId"]}}}
    result = await Projector(dynamodb, tables).project([broken, good[0], missing, good[1]])
    assert set(result.rejected) == {0, 2}
    assert "unknown eventType" in result.rejected[0]
    assert "lacks" in result.rejected[2]
    assert result.applied == 2


def spread_over_restaurants(orders: int, restaurants: int, rng: random.Random) -> list[Any]:
    """Each order placed at one of `restaurants` and confirmed: two events per order."""
    events = []
    for number in range(orders):
        order = Order.place(
            order_id=uuid.UUID(int=rng.getrandbits(128)),
            customer_id=f"customer-{number}",
            restaurant_id=f"restaurant-{number % restaurants}",
            channel_id="web",
            currency="USD",
            items=[item(price="12.50")],
            delivery=location(),
            now=START,
        )
        order.change_status(OrderStatus.CONFIRMED, user_id="staff", now=START + timedelta(1))
        events += [event.envelope() for event in order.events]
    return events


def write_calls(prefix: str) -> dict[tuple[str, str], float]:
    """Write calls on the prefix's tables so far, by operation and outcome."""
    calls: dict[tuple[str, str], float] = defaultdict(float)
    for family in REGISTRY.collect():
        if family.name != "orderline_dynamodb_calls":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_total")
                and labels["operation"] in ("TransactWriteItems", "BatchWriteItem", "PutItem")
                and labels["table"].startswith(prefix)
            ):
                calls[(labels["operation"], labels["outcome"])] += sample.value
    return calls


def since(before: dict[tuple[str, str], float], prefix: str) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0) for k, v in write_calls(prefix).items() if v != before.get(k)}


async def test_many_restaurants_never_make_a_batch_too_large_or_poisoned(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    """100 events over 50 restaurants used to pass 100 items per transaction (counters and
    gauges for every restaurant), be refused with ValidationException and be retried one event
    per transaction as if poisoned. Counters are the aggregator's now, and the projector sends
    no transaction: history in calls of 25, each order's current items one put each."""
    events = spread_over_restaurants(50, 50, random.Random(5))
    assert len(events) == 100
    before = write_calls(tables)
    result = await Projector(dynamodb, tables).project(events)
    assert (result.applied, result.rejected) == (100, {})
    assert since(before, tables) == {("BatchWriteItem", "ok"): 4, ("PutItem", "ok"): 100}
    await counter_consumer(dynamodb, streams, tables).catch_up()
    await settled(dynamodb, tables, 3, seconds=5)
    per_restaurant = [
        entry
        for entry in await scan(dynamodb, f"{tables}order-status-metrics")
        if counter_scope(entry["pk"]) == ("CONFIRMED", "restaurant-7")
    ]
    assert sum(entry["count"] for entry in per_restaurant) == 1


async def test_a_batch_projected_twice_is_counted_once(
    dynamodb: Any, streams: Any, tables: str
) -> None:
    """A re-put history entry changes nothing: DynamoDB writes no stream record for it, moto a
    MODIFY; the aggregator counts INSERTs only, so the counters still equal a recount."""
    events = spread_over_restaurants(20, 4, random.Random(6))
    for _ in range(2):  # a new projector each time: nothing remembered, everything re-put
        result = await Projector(dynamodb, tables).project(events)
        assert result.rejected == {}
        await counter_consumer(dynamodb, streams, tables).catch_up()
    assert await compare(dynamodb, tables, 3) == []
    assert len(await scan(dynamodb, f"{tables}order-status-log")) == 40
    confirmed = [
        entry
        for entry in await scan(dynamodb, f"{tables}order-status-metrics")
        if counter_scope(entry["pk"])[0] == "CONFIRMED"
    ]
    assert sum(entry["count"] for entry in confirmed) == 2 * 20  # all and per restaurant


async def test_an_item_dynamodb_refuses_rejects_only_its_event(dynamodb: Any, tables: str) -> None:
    """A history entry over 400 KB refuses its BatchWriteItem call; the call is retried item by
    item and only the oversized event is rejected, by position; the others are written."""
    good = spread_over_restaurants(30, 3, random.Random(7))
    huge = json.loads(json.dumps(good[0]))
    huge["eventId"], huge["version"] = str(uuid.uuid4()), 3
    huge["payload"]["order"]["version"] = 3
    huge["payload"]["reason"] = "x" * 420_000
    batch = [*good[:10], huge, *good[10:]]
    result = await Projector(dynamodb, tables).project(batch)
    assert set(result.rejected) == {10} and "refused" in result.rejected[10]
    assert result.applied == 60
    assert len(await scan(dynamodb, f"{tables}order-status-log")) == 60
    status = {i["orderId"]: i["version"] for i in await scan(dynamodb, f"{tables}order-status")}
    assert status[good[0]["orderId"]] == 2  # the rejected event's version never shows
