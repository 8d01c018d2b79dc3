"""Real services, started once per test session: PostgreSQL and a DynamoDB-compatible server.

`ORDERLINE_TEST_DATABASE_URL` and `ORDERLINE_TEST_DYNAMODB_ENDPOINT` point the suite at servers
you run; otherwise a throwaway pgserver and moto's server on a free port are started.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.migrate import upgrade
from orderline.embedded import embedded_dynamodb, embedded_postgres


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    configured = os.environ.get("ORDERLINE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="orderline-pg-") as data_dir:
        from pathlib import Path

        with embedded_postgres(Path(data_dir)) as url:
            yield url


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    configured = os.environ.get("ORDERLINE_TEST_DYNAMODB_ENDPOINT")
    if configured:
        yield configured
        return
    with embedded_dynamodb() as endpoint:
        yield endpoint


@pytest.fixture
def schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def schema(database_url: str, schema_name: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    admin = build_engine(database_url, pool_size=1)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    try:
        yield schema_name
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def engine(database_url: str, schema: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's own migrated schema."""
    engine = build_engine(database_url, schema=schema, pool_size=25)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
