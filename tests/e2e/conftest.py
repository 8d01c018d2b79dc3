"""A real uvicorn server on a free loopback port, wired by bootstrap to a fresh schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from orderline.adapters.postgres.engine import build_engine
from orderline.bootstrap import bootstrap
from orderline.config import Settings
from orderline.entrypoints.api.app import create_app

from ..helpers.dynamodb import delete_tables_of
from ..helpers.server import RunningServer, serve_in_thread


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(
    database_url: str, dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    schema = f"e2e_{uuid.uuid4().hex[:12]}"

    async def ddl(statement: str) -> None:
        admin = build_engine(database_url, pool_size=1)
        async with admin.begin() as conn:
            await conn.execute(text(statement))
        await admin.dispose()

    _run(ddl(f'CREATE SCHEMA "{schema}"'))
    settings = Settings(
        database_url=database_url,
        dynamodb_endpoint=dynamodb_endpoint,
        table_prefix=f"{schema}-",
        max_page_size=50,
        data_dir=tmp_path_factory.mktemp("e2e-data"),  # its signing key and cursor secret
        rate_limit_per_second=0,  # the tests are one principal sending bursts
        auth_failure_limit_per_minute=0,  # the matrices send hundreds of bad tokens on purpose
    )
    try:
        app = create_app(settings, lambda: bootstrap(settings, schema=schema))
        for base_url in serve_in_thread(app):
            yield RunningServer(base_url, schema, settings)
    finally:
        _run(ddl(f'DROP SCHEMA "{schema}" CASCADE'))
        delete_tables_of(dynamodb_endpoint, [f"{schema}-"])


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client acting as staff with every scope (authorization has tests of its own)."""
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=30, headers=server.admin_headers()
    ) as client:
        yield client
