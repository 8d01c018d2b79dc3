"""Real services, started once per test session: PostgreSQL and two DynamoDB implementations.

Every test that talks to DynamoDB runs twice, once per implementation (`[moto]` and
`[dynamodb-local]`, see `dynamodb_endpoint`). `ORDERLINE_TEST_DATABASE_URL` and
`ORDERLINE_TEST_DYNAMODB_ENDPOINT` point the suite at servers you run (then that one DynamoDB
server only); otherwise a throwaway pgserver, moto's server and AWS's DynamoDB Local (Java,
fetched once into `.tools/`) are started. Where DynamoDB Local cannot run, its pass is skipped
with one line saying why, unless `ORDERLINE_TEST_REQUIRE_DYNAMODB_LOCAL=1` (CI) makes that an
error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline import dynamodb_local
from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.migrate import upgrade
from orderline.embedded import embedded_dynamodb, embedded_postgres

from .helpers import REPO
from .helpers.broker import running_broker
from .helpers.cli import CliEnv
from .helpers.dynamodb import BACKENDS, LOCAL_SKIPPED, delete_tables_of, issued_prefixes, new_prefix

REQUIRE_LOCAL = "ORDERLINE_TEST_REQUIRE_DYNAMODB_LOCAL"


def pytest_configure(config: pytest.Config) -> None:
    if LOCAL_SKIPPED and os.environ.get(REQUIRE_LOCAL) == "1":
        raise pytest.UsageError(f"DynamoDB Local is required ({REQUIRE_LOCAL}=1): {LOCAL_SKIPPED}")


def pytest_report_header() -> str:
    if LOCAL_SKIPPED:
        return f"DynamoDB: moto only; the DynamoDB Local pass is SKIPPED: {LOCAL_SKIPPED}"
    return f"DynamoDB: every DynamoDB test runs on {' and '.join(BACKENDS)}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LOCAL_SKIPPED:
        terminalreporter.write_line(
            f"DynamoDB Local pass skipped: {LOCAL_SKIPPED}", yellow=True, bold=True
        )


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


@pytest.fixture(scope="session", params=BACKENDS)
def dynamodb_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """One DynamoDB implementation per parameter: moto's server, or AWS's DynamoDB Local."""
    if request.param == "configured":
        yield os.environ["ORDERLINE_TEST_DYNAMODB_ENDPOINT"]
    elif request.param == "moto":
        with embedded_dynamodb() as endpoint:
            yield endpoint
    else:
        with dynamodb_local.running(REPO / ".tools") as endpoint:
            yield endpoint


@pytest.fixture(autouse=True)
def delete_tables_afterwards(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every table created under a prefix issued during the test is deleted when it ends."""
    if "dynamodb_endpoint" not in request.fixturenames:
        yield
        return
    endpoint = request.getfixturevalue("dynamodb_endpoint")
    before = len(issued_prefixes)
    yield
    delete_tables_of(endpoint, issued_prefixes[before:])


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


@pytest.fixture
def cli_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CliEnv:
    """The environment of the `orderline` commands a test runs (`helpers.cli.invoke`): a data
    dir of its own; with the DynamoDB endpoint and a fresh table prefix (`cli_env.prefix`) when
    the test uses `dynamodb_endpoint`; with its database when it uses `scratch_database`."""
    env = CliEnv(ORDERLINE_DATA_DIR=str(tmp_path_factory.mktemp("orderline-data")))
    if "dynamodb_endpoint" in request.fixturenames:
        env["ORDERLINE_DYNAMODB_ENDPOINT"] = request.getfixturevalue("dynamodb_endpoint")
        env["ORDERLINE_TABLE_PREFIX"] = new_prefix()
    if "scratch_database" in request.fixturenames:
        env["ORDERLINE_DATABASE_URL"] = request.getfixturevalue("scratch_database")
    return env
