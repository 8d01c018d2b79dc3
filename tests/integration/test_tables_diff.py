"""`orderline tables diff`: live tables against the specs, on moto and on DynamoDB Local."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import (
    EVERY_TABLE,
    ORDER_STATUS,
    ORDER_STATUS_LOG,
)
from orderline.ops.provisioning.drift import diff_tables

from ..helpers.cli import CliEnv, invoke
from ..helpers.dynamodb import new_prefix


@pytest.fixture
async def every_table(dynamodb: Any) -> str:
    """A prefix with every table of a deployment (read model and forum), as `serve` makes."""
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, EVERY_TABLE)
    return prefix


async def test_fresh_tables_have_no_drift(dynamodb: Any, every_table: str) -> None:
    report = await diff_tables(dynamodb, every_table)
    assert report.drifts == [] and report.checked == len(EVERY_TABLE)


async def test_a_removed_ttl_and_a_missing_index_are_drift(dynamodb: Any) -> None:
    prefix = new_prefix()
    modified = tuple(
        replace(spec, indexes=spec.indexes[:1])
        if spec is ORDER_STATUS
        else replace(spec, ttl=False)
        if spec is ORDER_STATUS_LOG
        else spec
        for spec in EVERY_TABLE
    )
    await ensure_tables(dynamodb, prefix, modified)
    report = await diff_tables(dynamodb, prefix)
    assert sorted(report.drifts) == [
        f"{prefix}order-status-log: ttl disabled, spec: on ttl",
        f"{prefix}order-status: index RestaurantStatusIndex missing",
    ]


async def test_a_missing_table_is_drift(dynamodb: Any) -> None:
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, EVERY_TABLE[1:])
    report = await diff_tables(dynamodb, prefix)
    assert report.drifts == [f"{prefix}order-status: missing"]


async def test_pitr_is_checked_where_the_endpoint_reports_it(
    dynamodb: Any, every_table: str, request: pytest.FixtureRequest
) -> None:
    """moto implements DescribeContinuousBackups (PITR off by default): expecting it on is
    drift. DynamoDB Local answers UnknownOperationException: a note per table, not drift."""
    tables = every_table
    report = await diff_tables(dynamodb, tables, pitr=True)
    if request.node.callspec.params["dynamodb_endpoint"] == "dynamodb-local":
        assert report.drifts == [] and len(report.notes) == len(EVERY_TABLE)
        assert all("UnknownOperationException" in note for note in report.notes)
    else:
        assert report.notes == [] and len(report.drifts) == len(EVERY_TABLE)
        assert all("point-in-time recovery off, expected on" in d for d in report.drifts)
        assert (await diff_tables(dynamodb, tables, pitr=False)).drifts == []


async def test_the_command_exits_1_on_drift_and_0_without(dynamodb: Any, cli_env: CliEnv) -> None:
    tables = cli_env.prefix
    await ensure_tables(dynamodb, tables, EVERY_TABLE)
    clean = await invoke(cli_env, "tables", "diff")
    assert clean.exit_code == 0, clean.output
    assert f"no drift: {len(EVERY_TABLE)} tables match the spec" in clean.output
    await dynamodb.update_time_to_live(
        TableName=f"{tables}order-details",
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"},
    )
    drifted = await invoke(cli_env, "tables", "diff")
    assert drifted.exit_code == 1, drifted.output
    assert f"{tables}order-details: ttl" in drifted.output
