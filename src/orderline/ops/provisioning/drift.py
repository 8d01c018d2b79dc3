"""Live tables against their specs: keys, indexes, billing, stream, TTL and (optionally) PITR.

What an endpoint does not report is handled here, never skipped: a DescribeTable without
`BillingModeSummary` (AWS omits it for a table created provisioned and never switched) is read
from its provisioned throughput (zero: on-demand); DynamoDB Local does not implement
DescribeContinuousBackups (UnknownOperationException), so PITR there is a printed note per
table ("not checked"), not drift. moto implements it (PITR off unless enabled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import EVERY_TABLE, TTL_ATTRIBUTE, TableSpec

UNSUPPORTED = frozenset({"UnknownOperationException", "UnrecognizedClientException"})


@dataclass
class DriftReport:
    """What differs, table by table, and what could not be checked."""

    drifts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def drifted(self) -> bool:
        return bool(self.drifts)


async def diff_tables(
    client: DynamoDBClient,
    prefix: str,
    specs: Sequence[TableSpec] = EVERY_TABLE,
    *,
    pitr: bool | None = None,
) -> DriftReport:
    """Compare every spec's table under `prefix`; `pitr` None leaves PITR unchecked."""
    report = DriftReport()
    for spec in specs:
        name = spec.table_name(prefix)
        try:
            live = (await client.describe_table(TableName=name))["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            report.drifts.append(f"{name}: missing")
            continue
        report.checked += 1
        found = compare_table(spec.create_request(prefix), live)
        found += _ttl(spec, await client.describe_time_to_live(TableName=name))
        report.drifts += [f"{name}: {difference}" for difference in found]
        if pitr is not None:
            await _pitr(client, name, pitr, report)
    return report


def compare_table(wanted: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Differences between a CreateTable request and a DescribeTable answer."""
    found: list[str] = []
    if _keys(wanted["KeySchema"]) != _keys(live.get("KeySchema", [])):
        found.append(f"key {_keys(live.get('KeySchema', []))}, spec {_keys(wanted['KeySchema'])}")
    types = {a["AttributeName"]: a["AttributeType"] for a in live.get("AttributeDefinitions", [])}
    for attribute in wanted["AttributeDefinitions"]:
        actual = types.get(attribute["AttributeName"])
        if actual is not None and actual != attribute["AttributeType"]:
            found.append(f"attribute {attribute['AttributeName']} is {actual}")
    found += _indexes(wanted.get("GlobalSecondaryIndexes", []), live)
    billing = billing_mode(live)
    if billing != wanted["BillingMode"]:
        found.append(f"billing {billing}, spec {wanted['BillingMode']}")
    want_view = wanted.get("StreamSpecification", {}).get("StreamViewType")
    live_stream = live.get("StreamSpecification") or {}
    live_view = live_stream.get("StreamViewType") if live_stream.get("StreamEnabled") else None
    if want_view != live_view:
        found.append(f"stream {live_view or 'off'}, spec {want_view or 'off'}")
    return found


def billing_mode(live: dict[str, Any]) -> str:
    """The table's billing mode; without a summary, zero provisioned throughput is on-demand."""
    summary = live.get("BillingModeSummary") or {}
    if summary.get("BillingMode"):
        return str(summary["BillingMode"])
    throughput = live.get("ProvisionedThroughput") or {}
    provisioned = throughput.get("ReadCapacityUnits", 0) or throughput.get("WriteCapacityUnits", 0)
    return "PROVISIONED" if provisioned else "PAY_PER_REQUEST"


def _indexes(wanted: list[dict[str, Any]], live: dict[str, Any]) -> list[str]:
    actual = {index["IndexName"]: index for index in live.get("GlobalSecondaryIndexes", [])}
    found: list[str] = []
    for index in wanted:
        name = index["IndexName"]
        if name not in actual:
            found.append(f"index {name} missing")
            continue
        if _keys(actual[name]["KeySchema"]) != _keys(index["KeySchema"]):
            found.append(f"index {name} key {_keys(actual[name]['KeySchema'])}")
        projection = actual[name].get("Projection", {}).get("ProjectionType")
        if projection != index["Projection"]["ProjectionType"]:
            found.append(f"index {name} projection {projection}")
    extra = sorted(set(actual) - {index["IndexName"] for index in wanted})
    found += [f"index {name} not in the spec" for name in extra]
    return found


def _ttl(spec: TableSpec, answer: dict[str, Any]) -> list[str]:
    description = answer.get("TimeToLiveDescription", {})
    status = description.get("TimeToLiveStatus", "DISABLED")
    enabled = status in ("ENABLED", "ENABLING")
    if spec.ttl and not enabled:
        return [f"ttl {status.lower()}, spec: on {TTL_ATTRIBUTE}"]
    if spec.ttl and description.get("AttributeName") != TTL_ATTRIBUTE:
        return [f"ttl on {description.get('AttributeName')}, spec: on {TTL_ATTRIBUTE}"]
    if not spec.ttl and enabled:
        return [f"ttl on {description.get('AttributeName')}, spec: off"]
    return []


async def _pitr(client: DynamoDBClient, name: str, wanted: bool, report: DriftReport) -> None:
    try:
        answer = await client.describe_continuous_backups(TableName=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in UNSUPPORTED and "not supported" not in str(exc).lower():
            raise
        report.notes.append(
            f"{name}: point-in-time recovery not checked: the endpoint does not "
            f"implement DescribeContinuousBackups ({code})"
        )
        return
    description = answer.get("ContinuousBackupsDescription", {})
    recovery = description.get("PointInTimeRecoveryDescription", {})
    enabled = recovery.get("PointInTimeRecoveryStatus") == "ENABLED"
    if enabled != wanted:
        said = "on" if enabled else "off"
        report.drifts.append(
            f"{name}: point-in-time recovery {said}, expected {'on' if wanted else 'off'}"
        )


def _keys(schema: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((key["KeyType"], key["AttributeName"]) for key in schema)
