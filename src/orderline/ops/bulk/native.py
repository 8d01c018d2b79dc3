"""AWS-native backups and point-in-time recovery (CreateBackup, ..., RestoreTableToPointInTime).

DynamoDB Local implements none of these (`UnknownOperationException`); that becomes
`NotSupported`, said in one line by the CLI. moto implements them, but its
RestoreTableToPointInTime ignores the requested time (it copies the table as it is now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.protocol import DynamoDBClient

from .schema import code, wait_active


class NotSupported(Exception):
    """The endpoint does not implement this operation (DynamoDB Local)."""


@dataclass(frozen=True)
class BackupSummary:
    arn: str
    name: str
    table: str
    status: str
    created: datetime | None
    size: int | None


@dataclass(frozen=True)
class PitrStatus:
    enabled: bool
    earliest: datetime | None
    latest: datetime | None


async def _call(operation: str, method: Any, **request: Any) -> dict[str, Any]:
    try:
        response: dict[str, Any] = await method(**request)
    except ClientError as exc:
        if code(exc) == "UnknownOperationException":
            raise NotSupported(f"{operation} is not supported by this endpoint") from exc
        raise
    return response


async def create_backup(client: DynamoDBClient, table: str, name: str) -> BackupSummary:
    response = await _call("CreateBackup", client.create_backup, TableName=table, BackupName=name)
    details = response["BackupDetails"]
    return BackupSummary(
        details["BackupArn"],
        details["BackupName"],
        table,
        details["BackupStatus"],
        details.get("BackupCreationDateTime"),
        details.get("BackupSizeBytes"),
    )


async def list_backups(client: DynamoDBClient, prefix: str) -> list[BackupSummary]:
    found: list[BackupSummary] = []
    request: dict[str, Any] = {}
    while True:
        response = await _call("ListBackups", client.list_backups, **request)
        for summary in response.get("BackupSummaries", []):
            if summary["TableName"].startswith(prefix):
                found.append(
                    BackupSummary(
                        summary["BackupArn"],
                        summary["BackupName"],
                        summary["TableName"],
                        summary["BackupStatus"],
                        summary.get("BackupCreationDateTime"),
                        summary.get("BackupSizeBytes"),
                    )
                )
        if not response.get("LastEvaluatedBackupArn"):
            return found
        request["ExclusiveStartBackupArn"] = response["LastEvaluatedBackupArn"]


async def restore_backup(client: DynamoDBClient, arn: str, target: str) -> None:
    await _call(
        "RestoreTableFromBackup",
        client.restore_table_from_backup,
        TargetTableName=target,
        BackupArn=arn,
    )
    await wait_active(client, target)


async def delete_backup(client: DynamoDBClient, arn: str) -> None:
    await _call("DeleteBackup", client.delete_backup, BackupArn=arn)


async def enable_pitr(client: DynamoDBClient, table: str) -> PitrStatus:
    response = await _call(
        "UpdateContinuousBackups",
        client.update_continuous_backups,
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    return _pitr(response)


async def pitr_status(client: DynamoDBClient, table: str) -> PitrStatus:
    response = await _call(
        "DescribeContinuousBackups", client.describe_continuous_backups, TableName=table
    )
    return _pitr(response)


async def restore_to_time(client: DynamoDBClient, table: str, target: str, when: datetime) -> None:
    await _call(
        "RestoreTableToPointInTime",
        client.restore_table_to_point_in_time,
        SourceTableName=table,
        TargetTableName=target,
        RestoreDateTime=when,
    )
    await wait_active(client, target)


def _pitr(response: dict[str, Any]) -> PitrStatus:
    described = response["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    return PitrStatus(
        described.get("PointInTimeRecoveryStatus") == "ENABLED",
        described.get("EarliestRestorableDateTime"),
        described.get("LatestRestorableDateTime"),
    )
