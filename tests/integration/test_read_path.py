"""The read path: cache -> DynamoDB -> PostgreSQL, each tier hit, filled and invalidated."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.postgres import outbox
from orderline.bootstrap import Container, bootstrap
from orderline.readmodel.cache import ReadCache
from orderline.readmodel.views import OrderViews
from orderline.service_layer import commands

from ..helpers.actors import admin
from ..helpers.counting import counted
from ..helpers.dynamodb import counter_scope, scan
from ..helpers.factories import place_command
from ..helpers.orders import confirm, place
from ..helpers.settings import settings_for


def views_of(container: Container, cache_size: int = 1000) -> OrderViews:
    return OrderViews(
        container.orders,
        container.dynamodb,
        container.settings.table_prefix,
        ReadCache(cache_size, 60, 60),
    )


async def test_each_tier_answers_in_turn_and_fills_the_ones_above(container: Container) -> None:
    order_id = await place(container)
    views = views_of(container)
    first = await views.status(order_id)
    assert (first.source, first.document["status"]) == ("postgres", "PENDING")  # type: ignore[index]
    assert (await views.status(order_id)).source == "cache"
    fresh = views_of(container)  # another process: empty cache, DynamoDB was filled
    from_dynamodb = await fresh.status(order_id)
    assert from_dynamodb.source == "dynamodb"
    assert from_dynamodb.document == first.document
    details = await fresh.details(order_id)
    assert details.source == "dynamodb" and details.document["items"][0]["itemId"] == "pizza"  # type: ignore[index]


async def test_projected_events_refresh_the_cache(container: Container) -> None:
    order_id = await place(container)
    assert (await container.views.status(order_id)).document["status"] == "PENDING"  # type: ignore[index]
    await confirm(container, order_id)
    assert container.relay is not None
    await container.relay.drain()  # the in-process bus hands the events to the cache too
    read = await container.views.status(order_id)
    assert (read.source, read.document["status"]) == ("cache", "CONFIRMED")  # type: ignore[index]


async def test_min_version_reads_your_own_write(container: Container) -> None:
    order_id = await place(container)
    await container.views.status(order_id)  # version 1 is now cached and in DynamoDB
    await confirm(container, order_id)  # version 2, not projected
    stale = await container.views.status(order_id)
    assert (stale.source, stale.document["version"]) == ("cache", 1)  # type: ignore[index]
    mine = await container.views.status(order_id, min_version=2)
    assert (mine.source, mine.document["version"]) == ("postgres", 2)  # type: ignore[index]


async def test_an_item_past_its_ttl_is_treated_as_absent(container: Container) -> None:
    order_id = await place(container)
    expired = {
        "orderId": str(order_id),
        "status": "DELIVERED",
        "version": 1,
        "ttl": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp()),
    }
    table = f"{container.settings.table_prefix}order-status"
    await container.dynamodb.put_item(TableName=table, Item=to_item(expired))
    read = await views_of(container).status(order_id)
    assert (read.source, read.document["status"]) == ("postgres", "PENDING")  # type: ignore[index]
    assert (await views_of(container).status(order_id)).source == "dynamodb"  # refilled


async def test_unknown_ids_are_remembered_briefly(container: Container) -> None:
    views = views_of(container)
    unknown = uuid.uuid4()
    first = await views.status(unknown)
    assert (first.document, first.source) == (None, "postgres")
    second = await views.status(unknown)
    assert (second.document, second.source) == (None, "cache")


async def test_concurrent_misses_of_one_order_load_it_once(container: Container) -> None:
    order_id = await place(container)
    views = views_of(container)
    calls = 0
    real_get = container.orders.get

    async def counting_get(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return await real_get(*args, **kwargs)

    container.orders.get = counting_get  # type: ignore[method-assign]
    reads = await asyncio.gather(*(views.status(order_id) for _ in range(10)))
    assert calls == 1
    assert {read.document["version"] for read in reads} == {1}  # type: ignore[index]


async def test_a_deleted_order_reads_as_not_found_from_its_tombstone(container: Container) -> None:
    order_id = await place(container)
    await container.commands.handle(
        commands.DeleteOrder(order_id=order_id, actor=admin("admin"), expected_version=None)
    )
    assert container.relay is not None
    await container.relay.drain()
    read = await views_of(container).status(order_id)
    assert (read.document, read.source) == (None, "dynamodb")


async def test_batch_status_mixes_tiers_and_reports_unknown_ids(container: Container) -> None:
    cached, in_dynamodb, only_in_postgres = [await place(container) for _ in range(3)]
    views = views_of(container)
    await views.status(cached)
    await views_of(container).status(in_dynamodb)  # fills DynamoDB, not this cache
    unknown = uuid.uuid4()
    read = await views.statuses([cached, in_dynamodb, only_in_postgres, unknown, cached])
    assert [item["orderId"] for item in read.items] == [
        str(cached),
        str(in_dynamodb),
        str(only_in_postgres),
    ]
    assert read.not_found == [str(unknown)]
    assert read.sources == {"cache": 1, "dynamodb": 1, "postgres": 1}  # the orders shown
    assert read.source == "postgres"


async def test_customer_listing_pages_through_the_index_without_duplicates(
    container: Container,
) -> None:
    customer = f"customer-{uuid.uuid4().hex[:8]}"
    ids = [await place(container, customer_id=customer) for _ in range(23)]
    for order_id in ids[:5]:
        await confirm(container, order_id)
    assert container.relay is not None
    await container.relay.drain()
    seen: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        page = await container.views.by_party("customer", customer, limit=10, after=after)
        seen += page.items
        pages += 1
        after = page.next_key
        if after is None:
            break
    assert pages == 3
    assert sorted(item["orderId"] for item in seen) == sorted(map(str, ids))
    stamps = [item["updatedAt"] for item in seen]
    assert stamps == sorted(stamps, reverse=True)
    confirmed = await container.views.by_party("customer", customer, limit=3, status="CONFIRMED")
    assert len(confirmed.items) == 3 and confirmed.next_key is not None
    rest = await container.views.by_party(
        "customer", customer, limit=3, status="CONFIRMED", after=confirmed.next_key
    )
    assert {item["orderId"] for item in confirmed.items + rest.items} == set(map(str, ids[:5]))


async def test_history_falls_back_to_the_outbox(container: Container) -> None:
    order_id = await place(container)
    await confirm(container, order_id)
    page = await container.views.history(order_id, limit=1)
    assert page is not None and page.source == "postgres"
    assert [entry["status"] for entry in page.entries] == ["CONFIRMED"]
    assert page.next_before == 2
    assert container.relay is not None
    await container.relay.drain()
    projected = await container.views.history(order_id, limit=10)
    assert projected is not None and projected.source == "dynamodb"
    assert [entry["version"] for entry in projected.entries] == [2, 1]
    assert await container.views.history(UUID(int=7), limit=10) is None


WRITES = ("BatchWriteItem", "PutItem", "TransactWriteItems", "UpdateItem")


def write_calls(prefix: str) -> dict[tuple[str, str], float]:
    """DynamoDB write calls on the prefix's tables so far: (operation, table) -> calls."""
    calls: dict[tuple[str, str], float] = {}
    for family in REGISTRY.collect():
        if family.name != "orderline_dynamodb_calls":
            continue
        for sample in family.samples:
            operation, table = sample.labels["operation"], sample.labels["table"]
            if sample.name.endswith("_total") and operation in WRITES and table.startswith(prefix):
                key = (operation, table.removeprefix(prefix))
                calls[key] = calls.get(key, 0) + sample.value
    return calls


def since(before: dict[tuple[str, str], float], prefix: str) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0) for k, v in write_calls(prefix).items() if v > before.get(k, 0)}


ONE_EVENT = {  # an event's writes: its history entry, then its order's status and details
    ("BatchWriteItem", "order-status-log"): 1,
    ("PutItem", "order-status"): 1,
    ("PutItem", "order-details"): 1,
}


async def test_write_through_projects_after_the_commit_and_the_relay_adds_nothing(
    writing_through: Container,
) -> None:
    """`serve` with its workers (no Kafka): write-through writes each event, the in-process
    relay then skips it, so each event reaches DynamoDB once."""
    container = writing_through
    prefix = container.settings.table_prefix
    before = write_calls(prefix)
    order_id = await place(container)
    assert container.write_through is not None and container.write_through.projects
    await container.write_through.idle()
    status_items = await scan(container.dynamodb, f"{prefix}order-status")
    assert [item["orderId"] for item in status_items] == [str(order_id)]
    assert (await outbox.stats(container.engine)).backlog == 1  # the relay has not run
    assert since(before, prefix) == ONE_EVENT
    assert container.relay is not None
    assert await container.relay.drain() == 1
    assert since(before, prefix) == ONE_EVENT  # the projector remembers what it wrote through
    assert len(await scan(container.dynamodb, f"{prefix}order-status-log")) == 1
    await counted(container)  # counted from the history stream, after projection
    counters = await scan(container.dynamodb, f"{prefix}order-status-metrics")
    pending = [item for item in counters if counter_scope(item["pk"]) == ("PENDING", None)]
    assert sum(item["count"] for item in pending) == 1


async def test_without_workers_write_through_only_refreshes_the_cache(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    """`serve --no-workers` (or Kafka): a relay or projector elsewhere writes every event, so
    the API writes nothing to DynamoDB and holds nothing back from the relay; its reads see
    its writes through the cache, and `minVersion` falls through to PostgreSQL meanwhile."""
    settings = settings_for(database_url, dynamodb_endpoint, workers=False)
    prefix = settings.table_prefix
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as api:
        before = write_calls(prefix)
        order_id = await place(api)
        assert api.write_through is not None and not api.write_through.projects
        await api.write_through.idle()
        assert since(before, prefix) == {}
        cached = await api.views.status(order_id)
        assert cached.source == "cache" and cached.document is not None
        other_process = OrderViews(api.orders, api.dynamodb, prefix, ReadCache(0, 0, 0))
        fresh = await other_process.status(order_id, min_version=1)
        assert fresh.source == "postgres" and fresh.document is not None  # (and fills DynamoDB)
        before = write_calls(prefix)
        assert api.relay is not None  # standing in for the relay process: no hold to wait out
        assert await api.relay.drain() == 1
        assert since(before, prefix) == ONE_EVENT


async def test_a_failed_write_through_never_fails_the_write(
    engine: AsyncEngine, database_url: str, schema: str
) -> None:
    settings = settings_for(
        database_url,
        "http://127.0.0.1:1",
        dynamodb_max_attempts=1,
        dynamodb_timeout_seconds=1,
        write_through=True,
    )
    before = REGISTRY.get_sample_value("orderline_write_through_errors_total") or 0
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as down:
        order_id = await place(down)
        read = await down.views.status(order_id)
        assert down.write_through is not None
        await down.write_through.idle()
    assert read.document is not None and read.source == "cache"  # write-through filled the cache
    assert REGISTRY.get_sample_value("orderline_write_through_errors_total") == before + 1
    assert (await outbox.stats(engine)).backlog == 1  # the outbox still has it


async def test_items_live_for_the_configured_hours(container: Container) -> None:
    placed = await container.commands.handle(place_command())
    assert container.relay is not None
    await container.relay.drain()
    (item,) = await scan(container.dynamodb, f"{container.settings.table_prefix}order-status")
    updated = datetime.fromisoformat(placed.document["updatedAt"])
    assert item["ttl"] == int((updated + timedelta(hours=72)).timestamp())
    (entry,) = await scan(container.dynamodb, f"{container.settings.table_prefix}order-status-log")
    assert entry["ttl"] == int((updated + timedelta(days=365)).timestamp())


async def test_warming_caches_the_most_recently_updated_orders(container: Container) -> None:
    first, second, third = [await place(container) for _ in range(3)]
    await confirm(container, first)  # now the most recently updated
    views = views_of(container)
    assert await views.warm(2) == 2
    warmed = await views.status(first)
    assert (warmed.source, warmed.document["status"]) == ("cache", "CONFIRMED")  # type: ignore[index]
    assert (await views.status(third)).source == "cache"
    assert (await views.status(second)).source != "cache"
    assert await views_of(container, cache_size=0).warm(2) == 0  # nothing to warm without a cache


async def test_status_counts_are_cached_until_this_process_projects_again(
    container: Container,
) -> None:
    prefix = container.settings.table_prefix
    labels = {"operation": "Query", "table": f"{prefix}order-status-metrics", "outcome": "ok"}

    def queries() -> float:
        return REGISTRY.get_sample_value("orderline_dynamodb_calls_total", labels) or 0.0

    assert container.relay is not None
    await place(container)
    await container.relay.drain()
    await counted(container)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    before = queries()
    first = await container.views.status_counts(*window)
    fan_out = queries() - before
    assert fan_out == 6 * 4 + 4  # every status and gauge shard
    concurrent = await asyncio.gather(*(container.views.status_counts(*window) for _ in range(5)))
    assert concurrent == [first] * 5 and queries() - before == fan_out  # served from the cache
    await place(container)
    await container.relay.drain()
    await counted(container)  # the aggregator tells the views their counts are stale
    after = await container.views.status_counts(*window)
    assert after["totals"]["PENDING"]["count"] == first["totals"]["PENDING"]["count"] + 1
    assert queries() - before == 2 * fan_out


async def test_a_min_version_no_order_has_reached_writes_nothing_to_dynamodb(
    container: Container,
) -> None:
    """Finding 9 (issue 21): `minVersion` far ahead cost a consistent read, a PostgreSQL query
    and two conditional writes (failing ones still consume write capacity) on every request."""
    prefix = container.settings.table_prefix
    order_id = await place(container)
    assert container.relay is not None
    await container.relay.drain()

    def puts() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "orderline_dynamodb_calls_total",
                {"operation": "PutItem", "table": f"{prefix}{table}", "outcome": outcome},
            )
            or 0.0
            for table in ("order-status", "order-details")
            for outcome in ("ok", "ConditionalCheckFailedException")
        )

    before = puts()
    for _ in range(3):
        read = await views_of(container).status(order_id, min_version=10**9)
        assert (read.source, read.document["version"]) == ("postgres", 1)  # type: ignore[index]
    assert puts() == before  # DynamoDB already holds what PostgreSQL has
