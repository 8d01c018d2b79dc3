"""Each role's code paths call only what its IAM policy grants (`ops/provisioning/iam.py:ROLES`).

Every DynamoDB call is counted in `orderline_dynamodb_calls_total{operation,table}`; each test
runs one role's flows on a prefix of its own and checks every (operation, table) it observed
against the role's grants. A new call without a policy update fails here.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.admin import delete_tables, ensure_tables
from orderline.adapters.dynamodb.tables import FORUM_CONFLICTS, FORUM_TABLES, STREAM_TABLES
from orderline.adapters.postgres.outbox import PostgresEventLog
from orderline.bootstrap import (
    Container,
    bootstrap,
    build_projector,
    build_reconciler,
    open_aggregator,
)
from orderline.ops.provisioning import drift, iam
from orderline.readmodel import rebuild
from orderline.readmodel.projector import Projector
from orderline.streams import recount
from orderline.streams.conflicts import ConflictWatcher
from orderline.streams.lambda_handler import handle_batch

from ..helpers.counting import lambda_event
from ..helpers.dynamodb import new_prefix
from ..helpers.factories import history
from ..helpers.orders import confirm, place
from ..helpers.settings import settings_for

Observed = set[tuple[str, str]]


def _calls() -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for family in REGISTRY.collect():
        if family.name != "orderline_dynamodb_calls":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["operation"], sample.labels["table"])
                counts[key] = counts.get(key, 0) + sample.value
    return counts


@asynccontextmanager
async def observing(prefix: str) -> AsyncIterator[Observed]:
    """The (operation, unprefixed table) pairs called on `prefix`'s tables (or on none)."""
    before = _calls()
    observed: Observed = set()
    yield observed
    for (operation, table), value in _calls().items():
        if value > before.get((operation, table), 0):
            if table == "-":
                observed.add((operation, ""))
            elif table.startswith(prefix):
                observed.add((operation, table.removeprefix(prefix)))


def assert_granted(role: str, observed: Observed) -> None:
    allowed = iam.granted_calls(role)
    missing = sorted((op, t) for op, t in observed if op not in allowed.get(t, set()))
    assert not missing, (
        f"role {role} calls {missing} without a grant in ops/provisioning/iam.py:ROLES"
    )


@asynccontextmanager
async def started(
    engine: AsyncEngine, database_url: str, endpoint: str, schema: str, **overrides: Any
) -> AsyncIterator[tuple[Container, Observed]]:
    """A process started on tables that exist (as CloudFormation leaves them), observed."""
    settings = settings_for(database_url, endpoint, **overrides)
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as made:
        assert made.dynamodb is not None
        await delete_tables(made.dynamodb, settings.table_prefix)
        await ensure_tables(made.dynamodb, settings.table_prefix)
    async with (
        observing(settings.table_prefix) as observed,
        bootstrap(
            settings, engine=engine, notify_channel=f"ch_{schema}", write_through_hold=timedelta(0)
        ) as container,
    ):
        yield container, observed


async def _reads(container: Container) -> None:
    order_id = await place(container, customer_id="customer-iam")
    await confirm(container, order_id)
    if container.relay is not None:
        await container.relay.drain()
    views = container.views
    await views.status(order_id)
    await views.details(order_id)
    await views.status(order_id, min_version=2)
    await views.statuses([order_id, uuid.uuid4()])
    await views.history(order_id, limit=10)
    await views.by_party("customer", "customer-iam", limit=5)
    await views.by_party("restaurant", "restaurant-1", limit=5)
    now = datetime.now(UTC)
    await views.status_counts(now - timedelta(hours=1), now + timedelta(hours=1))
    for probe in container.readiness_probes().values():
        await probe()


async def test_the_api_role_covers_serve(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    async with started(engine, database_url, dynamodb_endpoint, schema) as (container, seen):
        await _reads(container)
    assert ("Query", "order-status") in seen and ("PutItem", "order-status") in seen
    assert ("BatchWriteItem", "order-status-log") in seen
    assert_granted("api", seen)


async def test_the_relay_role_covers_the_in_process_relay(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    async with started(
        engine, database_url, dynamodb_endpoint, schema, write_through=False, cache_size=0
    ) as (container, _):
        order_id = await place(container)
        await confirm(container, order_id)
        async with observing(container.settings.table_prefix) as relayed:
            assert container.relay is not None
            await container.relay.drain()
    assert {op for op, _ in relayed} == {"BatchWriteItem", "PutItem"}
    assert_granted("relay", relayed)


async def test_the_projector_role_covers_the_projector_and_start_up(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    async with started(engine, database_url, dynamodb_endpoint, schema, write_through=False) as (
        container,
        seen,
    ):
        assert container.dynamodb is not None
        projector = Projector(container.dynamodb, container.settings.table_prefix)
        await projector.project(history([["advance", "advance", "delete"]], random.Random(7)))
    assert {op for op, _ in seen} == {
        "DescribeTable",
        "DescribeTimeToLive",
        "BatchWriteItem",
        "PutItem",
    }
    assert_granted("projector", seen)


async def test_the_ops_role_covers_tables_replay_reconcile_and_diff(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    settings = settings_for(database_url, dynamodb_endpoint, write_through=False)
    prefix = settings.table_prefix
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as container:
        await place(container)
        client = container.dynamodb
        assert client is not None
        await delete_tables(client, prefix)
        assert container.aggregator is not None
        streams = container.aggregator.streams
        steps: list[Callable[[], Awaitable[Any]]] = [
            lambda: ensure_tables(client, prefix),
            lambda: rebuild.replay(
                PostgresEventLog(engine), build_projector(client, settings, prefix)
            ),
            lambda: build_reconciler(settings, engine, client).run(repair=True),
            lambda: recount.compare(client, prefix, settings.counter_shards),
            lambda: recount.rebuild(client, streams, prefix, settings.counter_shards),
            lambda: drift.diff_tables(client, prefix, pitr=True),
            lambda: delete_tables(client, prefix),
        ]
        async with observing(prefix) as seen:
            for step in steps:
                await step()
    assert {"CreateTable", "DeleteTable", "BatchWriteItem", "PutItem"} <= {op for op, _ in seen}
    assert_granted("ops", seen)


async def test_the_aggregator_role_covers_aggregate(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    settings = settings_for(database_url, dynamodb_endpoint, write_through=False)
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as container:
        assert container.dynamodb is not None
        projector = Projector(container.dynamodb, settings.table_prefix)
        await projector.project(history([["advance", "advance", "delete"]], random.Random(8)))
        async with observing(settings.table_prefix) as seen, open_aggregator(settings) as consumer:
            assert await consumer.catch_up() == 4
    assert {
        ("GetRecords", "order-status-log"),
        ("TransactWriteItems", "order-status-metrics"),
    } <= seen
    assert_granted("aggregator", seen)


async def test_the_counters_lambda_role_covers_the_handler(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> None:
    settings = settings_for(database_url, dynamodb_endpoint, write_through=False)
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as container:
        client, prefix = container.dynamodb, settings.table_prefix
        assert client is not None and container.aggregator is not None
        await Projector(client, prefix).project(history([["advance"]], random.Random(9)))
        event = await lambda_event(client, container.aggregator.streams, prefix)
        async with observing(prefix) as seen:
            assert (await handle_batch(event, client, prefix=prefix, shards=4))[
                "batchItemFailures"
            ] == []
    assert ("TransactWriteItems", "order-status-metrics") in seen
    assert_granted("counters-lambda", seen)


async def test_the_ops_role_covers_watching_and_listing_conflicts(
    dynamodb: Any, streams: Any
) -> None:
    prefix = new_prefix()
    streamed = tuple(dataclasses.replace(spec, stream=True) for spec in FORUM_TABLES)
    await ensure_tables(dynamodb, prefix, streamed)
    threads = f"{prefix}forum-threads"
    for region, at in (
        ("us-west-2", "2026-01-01T00:00:00.0Z"),
        ("us-east-1", "2026-01-01T00:00:00.5Z"),
    ):
        item = {"threadId": "t", "updatedRegion": region, "updatedAt": at}
        await dynamodb.put_item(TableName=threads, Item={k: {"S": v} for k, v in item.items()})
    async with observing(prefix) as seen:
        await ensure_tables(dynamodb, prefix, (FORUM_CONFLICTS, *STREAM_TABLES))
        watcher = ConflictWatcher(dynamodb, streams, prefix, "us-west-2")
        await watcher.catch_up()
        listed = await dynamodb.scan(TableName=FORUM_CONFLICTS.table_name(prefix))
    assert watcher.recorder.recorded == 1 and listed["Count"] == 1
    assert ("GetRecords", "forum-threads") in seen and ("PutItem", "forum-conflicts") in seen
    assert_granted("ops", seen)
