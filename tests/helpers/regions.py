"""Two regions for the end-to-end tests: two emulators of one kind, the replicator between them.

The `regions` fixture (module scope: a test module imports it to have a pair of its own), the
Settings and tables of both regions, and the API served on them (`serving_regions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import text

from orderline.adapters.dynamodb.client import client_credentials, dynamodb_client
from orderline.adapters.postgres.engine import build_engine
from orderline.bootstrap import bootstrap, build_forum_store
from orderline.config import Settings
from orderline.dynamodb_local import DynamoDBLocalServer
from orderline.embedded import EmulatorServer
from orderline.entrypoints.api.app import create_app

from . import REPO
from .dynamodb import BACKENDS
from .replicator import create_home_tables, replicating
from .server import serve_in_thread

HOME, REPLICA = "us-east-1", "us-west-2"
RTO_GOAL = 5.0
LAG = 0.5


@dataclass
class TwoRegions:
    kind: str
    home: Any  # EmulatorServer or DynamoDBLocalServer: stopped and started by the tests
    home_url: str
    replica_url: str
    data_dir: Path

    def stop_home(self) -> None:
        self.home.stop()

    def start_home(self) -> None:
        port = int(self.home_url.rsplit(":", 1)[1])
        if self.kind == "moto":  # moto's data lives in this process: a new server has it
            self.home = EmulatorServer(port=port)
        self.home.start()


@pytest.fixture(scope="module", params=BACKENDS)
def regions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoRegions]:
    if request.param == "configured":
        pytest.skip("starts and stops two DynamoDB servers of its own")
    data_dir = tmp_path_factory.mktemp("home-region")
    if request.param == "moto":
        home: Any = EmulatorServer()
        replica: Any = EmulatorServer()
    else:
        home = DynamoDBLocalServer(REPO / ".tools", 0, data_dir)
        replica = DynamoDBLocalServer(REPO / ".tools")
    two = TwoRegions(request.param, home, home.start(), replica.start(), data_dir)
    try:
        yield two
    finally:
        two.home.stop()
        replica.stop()


def region_settings(regions: TwoRegions, prefix: str, **overrides: Any) -> Settings:
    return Settings(
        dynamodb_endpoint=regions.home_url,
        aws_region=HOME,
        dynamodb_replica_regions=REPLICA,
        dynamodb_region_endpoints=f"{REPLICA}={regions.replica_url}",
        table_prefix=prefix,
        dynamodb_max_attempts=1,
        dynamodb_timeout_seconds=1.0,
        region_failure_threshold=3,
        region_open_seconds=1.0,
        region_read_timeout_seconds=0.5,
        **overrides,
    )


def tables(settings: Settings) -> None:
    async def create() -> None:
        home, replica = settings.regions().all
        async with (
            dynamodb_client(settings, home) as home_client,
            dynamodb_client(settings, replica) as replica_client,
        ):
            await create_home_tables(home_client, replica_client, settings.table_prefix)

    asyncio.run(create())


def drop_tables(regions: TwoRegions, prefix: str) -> None:
    for region, url in ((HOME, regions.home_url), (REPLICA, regions.replica_url)):
        client = boto3.client(
            "dynamodb", endpoint_url=url, region_name=region, **client_credentials(url)
        )
        for name in client.list_tables()["TableNames"]:
            if name.startswith(prefix):
                client.delete_table(TableName=name)


@contextlib.contextmanager
def replicated_tables(regions: TwoRegions, prefix: str, lag: float = LAG) -> Iterator[Settings]:
    """Tables in both regions under `prefix`, the replicator between them; dropped after."""
    settings = region_settings(regions, prefix)
    tables(settings)
    home, replica = settings.regions().all
    try:
        with replicating(settings, home, replica, prefix, lag=lag):
            yield settings
    finally:
        drop_tables(regions, prefix)


def cli_env(regions: TwoRegions, prefix: str, data_dir: Path) -> dict[str, str]:
    return {
        "ORDERLINE_DYNAMODB_ENDPOINT": regions.home_url,
        "ORDERLINE_AWS_REGION": HOME,
        "ORDERLINE_DYNAMODB_REPLICA_REGIONS": REPLICA,
        "ORDERLINE_DYNAMODB_REGION_ENDPOINTS": f"{REPLICA}={regions.replica_url}",
        "ORDERLINE_TABLE_PREFIX": prefix,
        "ORDERLINE_DATA_DIR": str(data_dir),
        "ORDERLINE_REGION_READ_TIMEOUT_SECONDS": "0.5",
        "ORDERLINE_DYNAMODB_MAX_ATTEMPTS": "1",
    }


@contextlib.contextmanager
def serving_regions(
    regions: TwoRegions, database_url: str, tmp_path: Path, **overrides: Any
) -> Iterator[tuple[str, Settings]]:
    """The API on both regions (reads fail over), the replicator between them."""
    schema = f"regions_{uuid.uuid4().hex[:10]}"
    asyncio.run(_ddl(database_url, f'CREATE SCHEMA "{schema}"'))
    settings = region_settings(
        regions,
        f"{schema}-",
        database_url=database_url,
        cache_size=0,  # every read asks DynamoDB, so the region shows
        forum_cache_seconds=0,
        relay_poll_seconds=0.2,
        relay_backoff_seconds=0.1,
        data_dir=tmp_path,
        auth=False,  # about regions, not about authorization
        **overrides,
    )
    tables(settings)
    app = create_app(settings, lambda: bootstrap(settings, schema=schema))
    home, replica = settings.regions().all
    try:
        with replicating(settings, home, replica, settings.table_prefix, lag=LAG):
            for base_url in serve_in_thread(app):
                yield base_url, settings
    finally:
        asyncio.run(_ddl(database_url, f'DROP SCHEMA "{schema}" CASCADE'))
        drop_tables(regions, settings.table_prefix)


async def _ddl(database_url: str, statement: str) -> None:
    engine = build_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


def wait_replicated(
    regions: TwoRegions,
    settings: Settings,
    ids: list[str],
    table_name: str = "order-status",
    key: str = "orderId",
) -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=regions.replica_url,
        region_name=REPLICA,
        **client_credentials(regions.replica_url),
    )
    table = f"{settings.table_prefix}{table_name}"
    deadline = time.monotonic() + 30
    for order_id in ids:
        while "Item" not in client.get_item(TableName=table, Key={key: {"S": order_id}}):
            assert time.monotonic() < deadline, f"{order_id} never reached the replica"
            time.sleep(0.05)


def forum_thread(settings: Settings) -> str:
    """A user (the principal of an API without authentication) and a thread, written in the
    home region by the forum's store."""

    async def seed() -> str:
        async with dynamodb_client(settings) as home:
            store = build_forum_store(home, settings)
            await store.create_user({"userId": "anonymous", "name": "A", "email": "a@example.com"})
            thread = {"threadId": str(uuid.uuid4()), "userId": "anonymous", "title": "Regions"}
            created = await store.create_thread({**thread, "description": "d"})
            return str(created["threadId"])

    return asyncio.run(seed())
