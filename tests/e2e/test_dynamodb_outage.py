"""DynamoDB goes away and comes back: no write is refused, no read fails, nothing is lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from sqlalchemy import text

from orderline.adapters.postgres.engine import build_engine
from orderline.bootstrap import bootstrap
from orderline.config import Settings
from orderline.dynamodb_local import DynamoDBLocalServer
from orderline.embedded import EmulatorServer
from orderline.entrypoints.api.app import create_app

from ..helpers import REPO
from ..helpers.dynamodb import BACKENDS
from ..helpers.http import order
from ..helpers.server import serve_in_thread


class Restartable(Protocol):
    def start(self) -> str: ...
    def stop(self) -> None: ...


@pytest.fixture(params=BACKENDS)
def restartable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Restartable, Callable[[int], Restartable]]]:
    """A DynamoDB server this test stops, and a way to start it again on the same port with
    its data: moto keeps it in this process, DynamoDB Local in a data directory."""
    if request.param == "configured":
        pytest.skip("stops and restarts its own DynamoDB server; a configured one cannot be")
    if request.param == "moto":
        yield EmulatorServer(), lambda port: EmulatorServer(port=port)
        return
    data_dir = tmp_path / "dynamodb-local"
    data_dir.mkdir()

    def local(port: int = 0) -> Restartable:
        return DynamoDBLocalServer(REPO / ".tools", port, data_dir)

    yield local(), local


@pytest.fixture
def outage_setup(
    database_url: str,
    restartable: tuple[Restartable, Callable[[int], Restartable]],
    tmp_path: Path,
) -> Iterator[tuple[str, Restartable, Settings, str]]:
    emulator = restartable[0]
    endpoint = emulator.start()
    schema = f"outage_{uuid.uuid4().hex[:10]}"
    asyncio.run(_ddl(database_url, f'CREATE SCHEMA "{schema}"'))
    settings = Settings(
        database_url=database_url,
        dynamodb_endpoint=endpoint,
        table_prefix=f"{schema}-",
        cache_size=0,  # every read asks DynamoDB, so the fallback shows
        dynamodb_max_attempts=1,
        dynamodb_timeout_seconds=1.0,
        relay_poll_seconds=0.2,
        relay_backoff_seconds=0.1,
        data_dir=tmp_path,
        auth=False,  # about an outage, not about authorization
    )
    app = create_app(settings, lambda: bootstrap(settings, schema=schema))
    try:
        for base_url in serve_in_thread(app):
            yield base_url, emulator, settings, schema
    finally:
        emulator.stop()
        asyncio.run(_ddl(database_url, f'DROP SCHEMA "{schema}" CASCADE'))
        # the tables go with the server: moto's with this fixture's, DynamoDB Local's data dir


async def _ddl(database_url: str, statement: str) -> None:
    engine = build_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


async def _backlog(database_url: str, schema: str) -> int:
    engine = build_engine(database_url, schema=schema, pool_size=1)
    async with engine.connect() as conn:
        count = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()
    await engine.dispose()
    return int(count)


def _events_per_order(database_url: str, schema: str) -> dict[str, int]:
    async def query() -> dict[str, int]:
        engine = build_engine(database_url, schema=schema, pool_size=1)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT order_id, count(*) FROM outbox GROUP BY 1"))
            result = {str(order_id): int(count) for order_id, count in rows}
        await engine.dispose()
        return result

    return asyncio.run(query())


def test_writes_and_status_reads_survive_an_outage_and_the_read_model_converges(
    outage_setup: tuple[str, Restartable, Settings, str],
    restartable: tuple[Restartable, Callable[[int], Restartable]],
    database_url: str,
) -> None:
    base_url, emulator, settings, schema = outage_setup
    port = int(str(settings.dynamodb_endpoint).rsplit(":", 1)[1])
    with httpx.Client(base_url=base_url, timeout=30) as client:

        def place_and_confirm() -> str:
            placed = client.post("/api/orders", json=order())
            assert placed.status_code == 201, placed.text
            order_id: str = placed.json()["id"]
            changed = client.post(f"/api/orders/{order_id}/status", json={"status": "CONFIRMED"})
            assert changed.status_code == 200, changed.text
            return order_id

        before = [place_and_confirm() for _ in range(2)]
        emulator.stop()
        during = [place_and_confirm() for _ in range(5)]
        for order_id in before + during:
            read = client.get(f"/api/orders/{order_id}/status")
            assert read.status_code == 200, read.text
            assert read.headers["x-read-source"] == "postgres"
            assert read.json()["status"] == "CONFIRMED"
        assert asyncio.run(_backlog(database_url, schema)) >= 10
        ready = client.get("/health/ready").json()
        assert ready["checks"]["dynamodb"]["status"] != "up"

        revived = restartable[1](port)  # same port, same data
        revived.start()
        try:
            deadline = time.monotonic() + 30
            while asyncio.run(_backlog(database_url, schema)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert asyncio.run(_backlog(database_url, schema)) == 0

            events = _events_per_order(database_url, schema)
            for order_id in before + during:
                status = client.get(f"/api/orders/{order_id}/status")
                assert status.headers["x-read-source"] == "dynamodb"
                assert status.json()["version"] == 2
                history: Any = client.get(f"/api/orders/{order_id}/history").json()
                assert [entry["version"] for entry in history["items"]] == [2, 1]
                assert len(history["items"]) == events[order_id]

        finally:
            revived.stop()
