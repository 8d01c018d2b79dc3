"""`orderline dr status`: per table and region, the replica status and item count; per replica,
the replication lag a canary measures.

Replica status comes from DescribeTable's `Replicas` (global tables on AWS); the emulators
report none ("not reported"). Item counts are DescribeTable's `ItemCount` on AWS (refreshed by
AWS about every six hours); on an emulator a COUNT scan of at most `SCAN_PAGES` pages, said so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orderline.adapters.dynamodb.client import is_emulator
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import FORUM_TABLES, TABLES, TableSpec
from orderline.regions import Region

from .canary import CanaryRun

REPLICATED: tuple[TableSpec, ...] = (*TABLES, *FORUM_TABLES)  # global tables in the export
SCAN_PAGES = 10
NOT_REPORTED = "not reported"


@dataclass(frozen=True)
class TableState:
    table: str  # the spec's name, without the prefix
    region: str
    status: str  # TableStatus, or the error's code when DescribeTable failed
    replicas: str  # "us-west-2=ACTIVE, ..." or NOT_REPORTED
    items: str  # "1234", "1234 (scan)", "≥5000 (bounded scan)"


@dataclass(frozen=True)
class RegionLag:
    region: str
    seconds: float | None  # None: the canary did not arrive within the wait


@dataclass(frozen=True)
class Status:
    tables: list[TableState]
    lags: list[RegionLag]


Step = Callable[[], None]


async def table_state(
    client: DynamoDBClient, region: Region, spec: TableSpec, prefix: str
) -> TableState:
    name = spec.table_name(prefix)
    try:
        table = (await client.describe_table(TableName=name))["Table"]
    except (BotoCoreError, ClientError, OSError) as exc:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else "unreachable"
        return TableState(spec.name, region.name, code, NOT_REPORTED, "-")
    replicas = table.get("Replicas") or []
    shown = ", ".join(f"{r['RegionName']}={r.get('ReplicaStatus', '?')}" for r in replicas)
    if is_emulator(region.endpoint):
        items = await _scan_count(client, name)
    else:
        items = str(table.get("ItemCount", "-"))
    return TableState(spec.name, region.name, table["TableStatus"], shown or NOT_REPORTED, items)


async def _scan_count(client: DynamoDBClient, table: str) -> str:
    request: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    count = 0
    for _ in range(SCAN_PAGES):
        response = await client.scan(**request)
        count += int(response.get("Count", 0))
        if "LastEvaluatedKey" not in response:
            return f"{count} (scan)"
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return f"≥{count} (bounded scan)"


async def replication_lag(
    home: DynamoDBClient,
    replicas: Sequence[tuple[Region, DynamoDBClient]],
    prefix: str,
    *,
    wait: float,
) -> list[RegionLag]:
    """One canary written in the home region, timed until each replica returns it."""
    canaries = CanaryRun(prefix)
    key = await canaries.write(home)
    try:
        return [
            RegionLag(region.name, await canaries.wait_for(client, key, within=wait))
            for region, client in replicas
        ]
    finally:
        await canaries.clean_up(home)


async def status(
    clients: Sequence[tuple[Region, DynamoDBClient]], prefix: str, *, wait: float, step: Step
) -> Status:
    """Every replicated table in every region (home first), then the canary's lag; `step`
    is called after each table and region, and after the canary."""
    states = []
    for spec in REPLICATED:
        for region, client in clients:
            states.append(await table_state(client, region, spec, prefix))
            step()
    lags = await replication_lag(clients[0][1], clients[1:], prefix, wait=wait)
    step()
    return Status(states, lags)
