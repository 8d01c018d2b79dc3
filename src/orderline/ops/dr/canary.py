"""Canary items: written in the home region, looked for in each replica (replication lag, RPO).

They live in a key space of their own in the `order-details` table: `orderId` =
`dr-canary#<run>#<n>`. The read model never reads such an item: every order read is by UUID
(the API refuses any other id), the details table has no index and no stream, and the
reconciler walks PostgreSQL's orders. A canary carries `updatedAt` (global tables' last
writer wins on it) and a one-hour `ttl`; the commands delete theirs when they finish.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import ORDER_DETAILS

CANARY_PREFIX = "dr-canary#"
CANARY_TTL = timedelta(hours=1)
BATCH = 100  # keys per BatchGetItem
WRITE_BATCH = 25  # requests per BatchWriteItem


def is_canary(order_id: str) -> bool:
    return order_id.startswith(CANARY_PREFIX)


def canary_table(prefix: str) -> str:
    return ORDER_DETAILS.table_name(prefix)


@dataclass
class CanaryRun:
    """The canaries of one command run, by key, with the monotonic time each was acknowledged."""

    prefix: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    written: dict[str, float] = field(default_factory=dict)
    _next: int = 0

    def new_key(self) -> str:
        self._next += 1
        return f"{CANARY_PREFIX}{self.run}#{self._next}"

    async def write(self, client: DynamoDBClient) -> str:
        """Put the next canary (in the home region); its key once acknowledged."""
        key = self.new_key()
        now = datetime.now(UTC)
        item: dict[str, Any] = {
            "orderId": {"S": key},
            "canary": {"BOOL": True},
            "updatedAt": {"S": now.isoformat()},
            "ttl": {"N": str(int((now + CANARY_TTL).timestamp()))},
        }
        await client.put_item(TableName=canary_table(self.prefix), Item=item)
        self.written[key] = time.monotonic()
        return key

    async def present(self, client: DynamoDBClient, keys: Sequence[str]) -> set[str]:
        """Which of `keys` `client`'s region holds now (BatchGetItem, unprocessed asked again)."""
        table = canary_table(self.prefix)
        found: set[str] = set()
        for start in range(0, len(keys), BATCH):
            request: dict[str, Any] = {
                table: {"Keys": [{"orderId": {"S": key}} for key in keys[start : start + BATCH]]}
            }
            while request:
                response = await client.batch_get_item(RequestItems=request)
                found.update(raw["orderId"]["S"] for raw in response["Responses"].get(table, []))
                request = response.get("UnprocessedKeys") or {}
        return found

    async def wait_for(
        self, client: DynamoDBClient, key: str, *, within: float, poll: float = 0.02
    ) -> float | None:
        """Seconds from the canary's acknowledgement until `client`'s region returns it; None
        when it did not within `within` seconds."""
        table = canary_table(self.prefix)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            response = await client.get_item(TableName=table, Key={"orderId": {"S": key}})
            if "Item" in response:
                return time.monotonic() - self.written[key]
            await asyncio.sleep(poll)
        return None

    async def clean_up(self, client: DynamoDBClient) -> None:
        """Delete this run's canaries (in the home region; the deletes replicate)."""
        table = canary_table(self.prefix)
        keys = list(self.written)
        for start in range(0, len(keys), WRITE_BATCH):
            deletes = [
                {"DeleteRequest": {"Key": {"orderId": {"S": key}}}}
                for key in keys[start : start + WRITE_BATCH]
            ]
            request: dict[str, Any] = {table: deletes}
            while request:
                response = await client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
