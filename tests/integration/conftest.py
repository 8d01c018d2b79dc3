"""Integration fixtures: a DynamoDB client, a fresh table prefix, and a wired container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.tables import STREAM_TABLES
from orderline.bootstrap import Container, bootstrap
from orderline.config import Settings

from ..helpers.dynamodb import new_prefix
from ..helpers.settings import settings_for


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
