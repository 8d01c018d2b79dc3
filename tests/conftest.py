"""Real services, started once per test session: PostgreSQL and a DynamoDB-compatible server.

`ORDERLINE_TEST_DATABASE_URL` and `ORDERLINE_TEST_DYNAMODB_ENDPOINT` point the suite at servers
you run; otherwise a throwaway pgserver and moto's server on a free port are started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.migrate import upgrade
from orderline.embedded import embedded_dynamodb, embedded_postgres

from .broker import running_broker


def configured_or_started(variable: str, start: AbstractContextManager[str]) -> Iterator[str]:
    """The server named by a test variable, or one started here for the session."""
    configured = os.environ.get(variable)
    if configured:
        yield configured
        return
    with start as address:
        yield address


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("orderline-pg")
    yield from configured_or_started("ORDERLINE_TEST_DATABASE_URL", embedded_postgres(data_dir))


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    yield from configured_or_started("ORDERLINE_TEST_DYNAMODB_ENDPOINT", embedded_dynamodb())


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka-protocol broker: ORDERLINE_TEST_KAFKA_BOOTSTRAP_SERVERS, or tansu started here."""
    configured = os.environ.get("ORDERLINE_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with running_broker() as broker:
        yield broker.bootstrap


@pytest.fixture
async def scratch_database(database_url: str) -> AsyncIterator[str]:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    engine = build_engine(database_url, pool_size=1)
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await engine.dispose()


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
