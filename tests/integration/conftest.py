"""Integration fixtures: a DynamoDB client, a fresh table prefix, and a wired container."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.tables import STREAM_TABLES
from orderline.bootstrap import Container, bootstrap
from orderline.config import Settings

from ..dynamodb import new_prefix

__all__ = ["new_prefix", "scan", "settings_for"]
DATA_DIR = Path(tempfile.mkdtemp(prefix="orderline-test-data-"))


@pytest.fixture
async def dynamodb(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    async with dynamodb_client(Settings(dynamodb_endpoint=dynamodb_endpoint)) as client:
        yield client


@pytest.fixture
async def streams(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    """A DynamoDB Streams client on the same server."""
    async with streams_client(Settings(dynamodb_endpoint=dynamodb_endpoint)) as client:
        yield client


@pytest.fixture
async def tables(dynamodb: Any) -> str:
    """A table prefix of this test's own, with its four tables and the stream lease table."""
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix)
    await ensure_tables(dynamodb, prefix, STREAM_TABLES)
    return prefix


def settings_for(database_url: str, dynamodb_endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "dynamodb_endpoint": dynamodb_endpoint,
        "table_prefix": new_prefix(),
        "relay_backoff_seconds": 0.01,
        "data_dir": DATA_DIR,  # the signing key and cursor secret of test containers
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def container(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> AsyncIterator[Container]:
    """Everything wired by bootstrap on the test's schema and table prefix; no write-through
    and no background relay, so a test decides when events are projected (`relay.drain()`)."""
    settings = settings_for(database_url, dynamodb_endpoint, write_through=False)
    async with bootstrap(settings, engine=engine, notify_channel=f"ch_{schema}") as built:
        yield built


@pytest.fixture
async def writing_through(
    engine: AsyncEngine, database_url: str, dynamodb_endpoint: str, schema: str
) -> AsyncIterator[Container]:
    """Like `container`, with write-through on (the default of a real deployment) and no relay
    hold, so a test decides when the relay runs (`relay.drain()`) without waiting out a delay."""
    settings = settings_for(database_url, dynamodb_endpoint)
    async with bootstrap(
        settings, engine=engine, notify_channel=f"ch_{schema}", write_through_hold=timedelta(0)
    ) as built:
        yield built


async def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table, decoded."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        response = await client.scan(**request)
        items += [from_item(raw) for raw in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
