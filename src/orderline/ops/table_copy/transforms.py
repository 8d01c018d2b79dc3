"""Item transforms (on DynamoDB-JSON items) for `migrate-table --transform` and zero-downtime
table migrations.

`order_status_v2` is the schema change the zero-downtime migration procedure was built for: the
`order-status` items gain `statusGroup` (ACTIVE, FINAL or DELETED, derived from `status`),
which a `StatusGroupIndex` (statusGroup, updatedAt) on the new table can serve, and
`schemaVersion` 2. It is pure and idempotent, so dual-write and backfill may both apply it.
"""

from __future__ import annotations

from orderline.adapters.dynamodb.codec import AttributeItem

FINAL = frozenset({"DELIVERED", "CANCELLED"})


def status_group(item: AttributeItem) -> str:
    if item.get("deleted", {}).get("BOOL"):
        return "DELETED"
    status = item.get("status", {}).get("S", "")
    return "FINAL" if status in FINAL else "ACTIVE"


def order_status_v2(item: AttributeItem) -> AttributeItem:
    return {**item, "statusGroup": {"S": status_group(item)}, "schemaVersion": {"N": "2"}}
