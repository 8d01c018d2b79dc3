"""Table administration: idempotent creation (waits for ACTIVE, enables TTL), describe, delete."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .protocol import DynamoDBClient
from .tables import TABLES, TTL_ATTRIBUTE, TableSpec

log = logging.getLogger(__name__)
WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class TableState:
    name: str
    status: str
    items: int
    indexes: list[str]
    stream: str | None
    ttl: str


async def ensure_tables(
    client: DynamoDBClient, prefix: str, specs: tuple[TableSpec, ...] = TABLES
) -> list[str]:
    """Create what is missing, wait until all are ACTIVE, enable TTL; return the created names."""
    created = []
    for spec in specs:
        if await _describe(client, spec.table_name(prefix)) is None:
            try:
                await client.create_table(**spec.create_request(prefix))
                created.append(spec.table_name(prefix))
                log.info("created table %s", spec.table_name(prefix))
            except ClientError as exc:
                if _code(exc) != "ResourceInUseException":  # another process created it meanwhile
                    raise
    for spec in specs:
        await _wait_active(client, spec.table_name(prefix))
        if spec.ttl:
            await _enable_ttl(client, spec.table_name(prefix))
    return created


async def describe_tables(client: DynamoDBClient, prefix: str) -> list[TableState | str]:
    """Each table's state, or the name of a table that does not exist."""
    states: list[TableState | str] = []
    for spec in TABLES:
        name = spec.table_name(prefix)
        table = await _describe(client, name)
        if table is None:
            states.append(name)
            continue
        ttl = await client.describe_time_to_live(TableName=name)
        stream = table.get("StreamSpecification", {})
        states.append(
            TableState(
                name=name,
                status=table["TableStatus"],
                items=table.get("ItemCount", 0),
                indexes=[index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])],
                stream=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
                ttl=ttl["TimeToLiveDescription"].get("TimeToLiveStatus", "DISABLED"),
            )
        )
    return states


async def delete_tables(client: DynamoDBClient, prefix: str) -> list[str]:
    deleted = []
    for spec in TABLES:
        try:
            await client.delete_table(TableName=spec.table_name(prefix))
            deleted.append(spec.table_name(prefix))
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
    return deleted


async def _describe(client: DynamoDBClient, name: str) -> dict[str, Any] | None:
    try:
        response = await client.describe_table(TableName=name)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    table: dict[str, Any] = response["Table"]
    return table


async def _wait_active(client: DynamoDBClient, name: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    delay = 0.05
    while True:
        table = await _describe(client, name)
        indexes = (table or {}).get("GlobalSecondaryIndexes", [])
        if (
            table
            and table["TableStatus"] == "ACTIVE"
            and all(index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes)
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"table {name} did not become ACTIVE in {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _enable_ttl(client: DynamoDBClient, name: str) -> None:
    current = await client.describe_time_to_live(TableName=name)
    if current["TimeToLiveDescription"].get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    try:
        await client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    except ClientError as exc:
        # Another process enabled it since we looked: AWS and DynamoDB Local refuse a second
        # enable ("TimeToLive is already enabled"); moto accepts it.
        if _code(exc) != "ValidationException" or "already enabled" not in str(exc):
            raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
