"""`orderline migrate-table`: scan -> transform -> write, dry run, resume from a checkpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from orderline.config import Settings
from orderline.ops.bulk.dynamodb_http import Wire, open_wire
from orderline.ops.bulk.schema import wait_active
from orderline.ops.bulk.writer import BatchWriter
from orderline.ops.table_copy.migrate import MigrateOptions, migrate
from orderline.ops.table_copy.transforms import order_status_v2

from ..helpers.cli import CliEnv, invoke
from ..helpers.dynamodb import new_prefix

STATUSES = ("PENDING", "DELIVERED", "CANCELLED")


@pytest.fixture
async def wire(dynamodb_endpoint: str) -> AsyncIterator[Wire]:
    async with open_wire(Settings(dynamodb_endpoint=dynamodb_endpoint)) as opened:
        yield opened


async def status_table(client: Any, wire: Wire, name: str, items: int) -> None:
    await client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await wait_active(client, name)
    rows = [
        {"orderId": {"S": f"o{n}"}, "status": {"S": STATUSES[n % 3]}, "version": {"N": "1"}}
        for n in range(items)
    ]
    writer = BatchWriter(wire)
    await asyncio.gather(*(writer.put_items(name, rows[i : i + 25]) for i in range(0, items, 25)))


async def test_migrate_table_transforms_every_item_and_compares_counts(
    dynamodb: Any, wire: Wire, cli_env: CliEnv
) -> None:
    prefix = cli_env.prefix
    await status_table(dynamodb, wire, f"{prefix}status", 250)
    args = [
        "migrate-table",
        "status",
        "status-v2",
        "--transform",
        "orderline.ops.table_copy.transforms:order_status_v2",
    ]
    dry = await invoke(cli_env, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: 250 items scanned, 250 would be written" in dry.output
    assert '"statusGroup"' in dry.output
    assert f"{prefix}status-v2" not in (await dynamodb.list_tables())["TableNames"] or (
        (await dynamodb.scan(TableName=f"{prefix}status-v2", Select="COUNT"))["Count"] == 0
    )
    result = await invoke(cli_env, *args)
    assert result.exit_code == 0, result.output
    assert "migrated 250 of 250 items" in result.output and "target 250" in result.output
    items = (await wire.call("Scan", {"TableName": f"{prefix}status-v2"}))["Items"]
    assert len(items) == 250
    for item in items:
        expected = "ACTIVE" if item["status"]["S"] == "PENDING" else "FINAL"
        assert item["statusGroup"] == {"S": expected} and item["schemaVersion"] == {"N": "2"}


async def test_a_checkpointed_segment_is_not_scanned_again(
    dynamodb: Any, wire: Wire, tmp_path: Path
) -> None:
    prefix = new_prefix()
    await status_table(dynamodb, wire, f"{prefix}a", 200)
    await status_table(dynamodb, wire, f"{prefix}b", 0)
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_bytes(orjson.dumps({"total": 4, "segments": {"1": {"done": True}}}))
    options = MigrateOptions(f"{prefix}a", f"{prefix}b", checkpoint, order_status_v2, segments=4)
    result = await migrate(wire, options)
    assert 0 < result.scanned < 200  # segment 1 was done before the "crash"
    assert result.target_count == result.scanned and not checkpoint.exists()
