"""Read-model table specs (DESIGN §6): one definition drives creation, description and deletion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TTL_ATTRIBUTE = "ttl"


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str


@dataclass(frozen=True)
class TableSpec:
    """A table, named without its prefix; attribute types are all strings (S) here."""

    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = field(default=())
    stream: bool = False
    ttl: bool = True

    def table_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def create_request(self, prefix: str) -> dict[str, Any]:
        """The CreateTable request for this table under `prefix` (on-demand billing)."""
        key_schema = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.range_key:
            key_schema.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": self.table_name(prefix),
            "KeySchema": key_schema,
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": "S"} for name in self._key_attributes()
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.hash_key, "KeyType": "HASH"},
                        {"AttributeName": index.range_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ]
        if self.stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
        return request

    def _key_attributes(self) -> list[str]:
        names = [self.hash_key]
        if self.range_key:
            names.append(self.range_key)
        for index in self.indexes:
            names += [index.hash_key, index.range_key]
        return list(dict.fromkeys(names))


ORDER_STATUS = TableSpec(
    name="order-status",
    hash_key="orderId",
    indexes=(
        Index("CustomerStatusIndex", "customerId", "updatedAt"),
        Index("RestaurantStatusIndex", "restaurantId", "updatedAt"),
    ),
    stream=True,
)
ORDER_DETAILS = TableSpec(name="order-details", hash_key="orderId")
# Its stream is where the counters are counted from (`streams/`): each entry is one INSERT.
ORDER_STATUS_LOG = TableSpec(
    name="order-status-log", hash_key="orderId", range_key="sk", stream=True
)
ORDER_STATUS_METRICS = TableSpec(
    name="order-status-metrics", hash_key="pk", range_key="sk", ttl=False
)

TABLES: tuple[TableSpec, ...] = (
    ORDER_STATUS,
    ORDER_DETAILS,
    ORDER_STATUS_LOG,
    ORDER_STATUS_METRICS,
)

# Stream shard leases and checkpoints (`streams/leases.py`): one item per consumer and shard,
# `stream` = consumer + stream ARN, `shardId`.
STREAM_LEASES = TableSpec(name="stream-leases", hash_key="stream", range_key="shardId", ttl=False)
STREAM_TABLES: tuple[TableSpec, ...] = (STREAM_LEASES,)

# The forum (DESIGN §11): DynamoDB is its only database. Names and keys as in seed 004.
FORUM_USERS = TableSpec(
    name="forum-users",
    hash_key="userId",
    indexes=(Index("EmailIndex", "email", "userId"),),
    ttl=False,
)
FORUM_THREADS = TableSpec(
    name="forum-threads",
    hash_key="threadId",
    indexes=(Index("CreatedAtIndex", "bucket", "createdAt"),),
    ttl=False,
)
FORUM_POSTS = TableSpec(
    name="forum-posts",
    hash_key="postId",
    range_key="threadId",
    indexes=(
        Index("ThreadIndex", "threadId", "createdAt"),
        Index("UserIndex", "userId", "createdAt"),
    ),
    ttl=False,
)
FORUM_TABLES: tuple[TableSpec, ...] = (FORUM_USERS, FORUM_THREADS, FORUM_POSTS)
# Forum items one region's write overwrote within the replication window (streams/conflicts.py),
# one table per region: `conflictId` = table and stream sequence number (a redelivery rewrites it).
FORUM_CONFLICTS = TableSpec(name="forum-conflicts", hash_key="conflictId", ttl=False)
# Every table of a deployment: what export, drift checks and backups cover by default.
EVERY_TABLE: tuple[TableSpec, ...] = (*TABLES, *STREAM_TABLES, *FORUM_TABLES, FORUM_CONFLICTS)


@dataclass(frozen=True)
class ReadModelTables:
    """The names of the four read-model tables under one prefix."""

    status: str
    details: str
    log: str
    metrics: str

    @classmethod
    def under(cls, prefix: str) -> ReadModelTables:
        return cls(
            status=ORDER_STATUS.table_name(prefix),
            details=ORDER_DETAILS.table_name(prefix),
            log=ORDER_STATUS_LOG.table_name(prefix),
            metrics=ORDER_STATUS_METRICS.table_name(prefix),
        )
