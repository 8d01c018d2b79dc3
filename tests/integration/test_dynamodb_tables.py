"""Read-model tables on a DynamoDB-compatible server over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orderline.adapters.dynamodb.admin import (
    TableState,
    delete_tables,
    describe_tables,
    ensure_tables,
)
from orderline.adapters.dynamodb.tables import TABLES

from ..helpers.cli import CliEnv, invoke
from ..helpers.dynamodb import new_prefix


@pytest.fixture
def prefix() -> str:
    return new_prefix()


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


async def test_create_is_idempotent_and_complete(client: Any, prefix: str) -> None:
    created = await ensure_tables(client, prefix)
    assert sorted(created) == sorted(spec.table_name(prefix) for spec in TABLES)
    assert await ensure_tables(client, prefix) == []
    states = {s.name: s for s in await describe_tables(client, prefix) if isinstance(s, TableState)}
    status = states[f"{prefix}order-status"]
    assert status.status == "ACTIVE"
    assert sorted(status.indexes) == ["CustomerStatusIndex", "RestaurantStatusIndex"]
    assert status.stream == "NEW_AND_OLD_IMAGES" and status.ttl == "ENABLED"
    assert states[f"{prefix}order-status-log"].ttl == "ENABLED"
    assert states[f"{prefix}order-status-metrics"].ttl == "DISABLED"
    assert len(await delete_tables(client, prefix)) == 4
    assert all(isinstance(s, str) for s in await describe_tables(client, prefix))


async def test_cli_tables_commands(cli_env: CliEnv, dynamodb_endpoint: str, tmp_path: Path) -> None:
    prefix = cli_env.prefix
    created = await invoke(cli_env, "tables", "create")
    assert created.exit_code == 0 and f"{prefix}order-details" in created.output
    described = await invoke(cli_env, "tables", "describe")
    assert "CustomerStatusIndex" in described.output and "missing" not in described.output
    refused = await invoke(cli_env, "tables", "delete")
    assert refused.exit_code == 2 and "--yes" in refused.output
    deleted = await invoke(cli_env, "tables", "delete", "--yes")
    assert deleted.exit_code == 0 and f"{prefix}order-status-log" in deleted.output
    embedded = await invoke(
        {
            "ORDERLINE_TABLE_PREFIX": prefix,
            "ORDERLINE_DYNAMODB_ENDPOINT": None,
            "ORDERLINE_DATA_DIR": str(tmp_path),  # no `orderline serve` runs there
        },
        "tables",
        "describe",
    )
    assert embedded.exit_code == 2 and "ORDERLINE_DYNAMODB_ENDPOINT" in embedded.output


async def test_processes_starting_together_all_create_the_tables(dynamodb: Any) -> None:
    """Every process ensures the tables at start; racing ones must not fail on TTL or creation
    (AWS and DynamoDB Local refuse a second TTL enable; moto accepts it)."""
    prefix = new_prefix()
    results = await asyncio.gather(*(ensure_tables(dynamodb, prefix) for _ in range(4)))
    assert sorted(name for created in results for name in created) == sorted(
        spec.table_name(prefix) for spec in TABLES
    )
    states = {state.name: state for state in await describe_tables(dynamodb, prefix)}  # type: ignore[union-attr]
    assert states[f"{prefix}order-status"].ttl == "ENABLED"
