"""A real uvicorn server on a free loopback port, wired by bootstrap to a fresh schema."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from orderline.adapters.postgres.engine import build_engine
from orderline.bootstrap import bootstrap, dev_signer
from orderline.config import Settings
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app

from ..dynamodb import delete_tables_of


@dataclass
class RunningServer:
    base_url: str
    schema: str
    settings: Settings

    def token(
        self,
        role: Role,
        subject: str,
        *,
        restaurant: str | None = None,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int = 3600,
    ) -> str:
        """A bearer token this server accepts (signed with its data dir's key)."""
        return dev_signer(self.settings).issue(
            subject, role, restaurant_id=restaurant, scopes=scopes, ttl_seconds=ttl_seconds
        )

    def headers(self, role: Role = Role.STAFF, subject: str = "staff-1", **claims: Any) -> Headers:
        return {"Authorization": f"Bearer {self.token(role, subject, **claims)}"}

    def admin_headers(self) -> Headers:
        """Staff with every scope: what the tests that are not about authorization use."""
        return self.headers(scopes=ADMIN_SCOPES)


Headers = dict[str, str]
ADMIN_SCOPES = ("orders:admin", "analytics:read", "metrics:read", "forum:moderate")


def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve `app` from a thread of this process; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
