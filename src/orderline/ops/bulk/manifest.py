"""The backup manifest, and a live table's definition in a form CreateTable accepts.

`manifest.json` holds, per table: its CreateTable request (keys, attribute definitions, GSIs and
LSIs with projections, billing mode, stream) without the fields DynamoDB only reports (index
status, sizes, ARNs, throughput of an on-demand table), TTL, tags, PITR, the item count, every
segment file with its sha256, and for read-model tables the outbox position the backup is
consistent with.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import ClientError

from orderline import __version__
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import TABLES

from .files import CorruptBackup, FileEntry, write_json_durably

FORMAT = "orderline-backup/1"
MANIFEST = "manifest.json"
READ_MODEL_NAMES = frozenset(spec.name for spec in TABLES)
INDEX_KEYS = ("IndexName", "KeySchema", "Projection")
# What a restore passes to CreateTable: exactly what `create_request` writes, nothing else (no
# resource policy, encryption key, table class or tags smuggled in through a manifest).
CREATE_KEYS = {
    "KeySchema": None,
    "AttributeDefinitions": None,
    "BillingMode": None,
    "ProvisionedThroughput": {"ReadCapacityUnits", "WriteCapacityUnits"},
    "GlobalSecondaryIndexes": {*INDEX_KEYS, "ProvisionedThroughput"},
    "LocalSecondaryIndexes": set(INDEX_KEYS),
    "StreamSpecification": {"StreamEnabled", "StreamViewType"},
}


@dataclass
class TableBackup:
    name: str  # the table's full name when backed up
    base_name: str  # without the source prefix
    create: dict[str, Any]  # CreateTable request without TableName
    ttl_attribute: str | None = None
    tags: list[dict[str, str]] | None = None
    pitr: bool | None = None  # None: the endpoint does not say
    read_model: bool = False
    outbox_position: int | None = None
    items: int = 0
    files: list[FileEntry] = field(default_factory=list)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(key["AttributeName"] for key in self.create["KeySchema"])

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base_name": self.base_name,
            "read_model": self.read_model,
            "outbox_position": self.outbox_position,
            "items": self.items,
            "create_table": self.create,
            "ttl_attribute": self.ttl_attribute,
            "tags": self.tags,
            "pitr": self.pitr,
            "files": [entry.as_json() for entry in self.files],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableBackup:
        return cls(
            name=data["name"],
            base_name=data["base_name"],
            create=data["create_table"],
            ttl_attribute=data.get("ttl_attribute"),
            tags=data.get("tags"),
            pitr=data.get("pitr"),
            read_model=bool(data.get("read_model")),
            outbox_position=data.get("outbox_position"),
            items=int(data.get("items", 0)),
            files=[FileEntry.from_json(entry) for entry in data.get("files", [])],
        )


@dataclass
class Manifest:
    source_prefix: str
    tables: list[TableBackup]
    segments: int
    outbox_position: int | None = None
    started_at: str = field(default_factory=lambda: now_text())
    completed_at: str | None = None
    tool: str = f"orderline {__version__}"

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tool": self.tool,
            "source_prefix": self.source_prefix,
            "segments": self.segments,
            "outbox_position": self.outbox_position,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "tables": [table.as_json() for table in self.tables],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise ValueError(f"not an orderline backup manifest (format {data.get('format')!r})")
        return cls(
            source_prefix=data["source_prefix"],
            tables=[TableBackup.from_json(table) for table in data["tables"]],
            segments=int(data["segments"]),
            outbox_position=data.get("outbox_position"),
            started_at=data["started_at"],
            completed_at=data.get("completed_at"),
            tool=data.get("tool", ""),
        )

    def save(self, path: Path) -> None:
        write_json_durably(path, self.as_json())

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls.from_json(orjson.loads(path.read_bytes()))


def check_create(table: TableBackup) -> None:
    """The manifest's CreateTable request holds only the allowed parameters (CorruptBackup)."""

    def refuse(what: str) -> CorruptBackup:
        return CorruptBackup(f"{MANIFEST}: {table.name}: CreateTable {what} is not allowed")

    if not isinstance(table.create, dict) or "KeySchema" not in table.create:
        raise refuse("request without KeySchema")
    for name, value in table.create.items():
        if name not in CREATE_KEYS:
            raise refuse(f"parameter {name!r}")
        inner = CREATE_KEYS[name]
        if inner is None:
            continue
        for part in value if isinstance(value, list) else [value]:
            extra = set(part) - inner if isinstance(part, dict) else {"(not an object)"}
            if extra:
                raise refuse(f"parameter {name}.{sorted(extra)[0]}")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base_name(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def selected(base: str, full: str, patterns: list[str] | None) -> bool:
    """No pattern: every table; otherwise a glob matching the name with or without prefix."""
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(base, p) or fnmatch.fnmatchcase(full, p) for p in patterns)


async def describe_for_backup(client: DynamoDBClient, name: str, prefix: str) -> TableBackup:
    """A live table as CreateTable would recreate it, with TTL, tags and PITR."""
    table = (await client.describe_table(TableName=name))["Table"]
    base = base_name(name, prefix)
    return TableBackup(
        name=name,
        base_name=base,
        create=create_request(table),
        ttl_attribute=await _ttl_attribute(client, name),
        tags=await _tags(client, table.get("TableArn")),
        pitr=await _pitr(client, name),
        read_model=base in READ_MODEL_NAMES,
    )


def create_request(table: dict[str, Any]) -> dict[str, Any]:
    """DescribeTable's answer as a CreateTable request (without TableName)."""
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(table.get("ProvisionedThroughput", {}))
    gsis = [_index(gsi, billing) for gsi in table.get("GlobalSecondaryIndexes", [])]
    lsis = [_index(lsi, "PAY_PER_REQUEST") for lsi in table.get("LocalSecondaryIndexes", [])]
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    if lsis:
        request["LocalSecondaryIndexes"] = lsis
    stream = table.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return request


def _index(index: dict[str, Any], billing: str) -> dict[str, Any]:
    """Only what CreateTable accepts: no status, size, count, ARN; throughput if provisioned."""
    cleaned = {key: index[key] for key in INDEX_KEYS}
    if billing == "PROVISIONED" and "ProvisionedThroughput" in index:
        cleaned["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return cleaned


def _throughput(described: dict[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": max(1, int(described.get("ReadCapacityUnits", 1))),
        "WriteCapacityUnits": max(1, int(described.get("WriteCapacityUnits", 1))),
    }


async def _ttl_attribute(client: DynamoDBClient, name: str) -> str | None:
    described = (await client.describe_time_to_live(TableName=name))["TimeToLiveDescription"]
    if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return str(described["AttributeName"])
    return None


async def _tags(client: DynamoDBClient, arn: str | None) -> list[dict[str, str]] | None:
    if not arn:
        return None
    try:
        response = await client.list_tags_of_resource(ResourceArn=arn)
    except ClientError:
        return None  # the endpoint does not keep tags
    return list(response.get("Tags", []))


async def _pitr(client: DynamoDBClient, name: str) -> bool | None:
    try:
        response = await client.describe_continuous_backups(TableName=name)
    except ClientError:
        return None  # DynamoDB Local has no continuous backups
    described = response["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    return bool(described.get("PointInTimeRecoveryStatus") == "ENABLED")
