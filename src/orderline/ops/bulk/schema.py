"""Creating a table from its backup definition: CreateTable, then TTL, tags and PITR."""

from __future__ import annotations

import asyncio

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.protocol import DynamoDBClient

from .manifest import TableBackup

WAIT_SECONDS = 300.0


async def exists(client: DynamoDBClient, name: str) -> bool:
    try:
        await client.describe_table(TableName=name)
    except ClientError as exc:
        if code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


async def create_from_backup(client: DynamoDBClient, table: TableBackup, name: str) -> list[str]:
    """Create `name` as the backed-up table was; what the endpoint could not apply, as notes."""
    try:
        await client.create_table(TableName=name, **table.create)
    except ClientError as exc:
        # a CreateTable retried after a client timeout finds the table its first attempt made
        if code(exc) != "ResourceInUseException":
            raise
    await wait_active(client, name)
    notes: list[str] = []
    if table.ttl_attribute:
        await client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
    if table.tags:
        arn = (await client.describe_table(TableName=name))["Table"]["TableArn"]
        try:
            await client.tag_resource(ResourceArn=arn, Tags=table.tags)
        except ClientError as exc:
            notes.append(f"{name}: tags not restored ({code(exc)}: this endpoint keeps none)")
    if table.pitr:
        try:
            await client.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except ClientError as exc:
            notes.append(f"{name}: PITR not enabled ({code(exc)}: not supported by this endpoint)")
    return notes


async def delete_and_wait(client: DynamoDBClient, name: str) -> None:
    await client.delete_table(TableName=name)
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while await exists(client, name):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"table {name} was not deleted in {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(0.2)


async def wait_active(client: DynamoDBClient, name: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    delay = 0.05
    while True:
        table = (await client.describe_table(TableName=name))["Table"]
        indexes = table.get("GlobalSecondaryIndexes", [])
        if table["TableStatus"] == "ACTIVE" and all(
            index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"table {name} did not become ACTIVE in {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
