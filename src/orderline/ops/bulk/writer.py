"""BatchWriteItem, 25 items a call, `UnprocessedItems` retried under backoff, rate limited.

Items are DynamoDB JSON; restore passes the file lines untouched (spliced into the request
body), migrate passes transformed items.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from .dynamodb_http import Wire, WireError
from .limiter import CapacityLimiter, consumed_units

BATCH = 25  # DynamoDB's limit per BatchWriteItem
UNPROCESSED_ATTEMPTS = 30


class BatchWriter:
    def __init__(
        self, wire: Wire, limiter: CapacityLimiter | None = None, concurrency: int = 32
    ) -> None:
        self._wire = wire
        self._limiter = limiter or CapacityLimiter(None)
        self._gate = asyncio.Semaphore(concurrency)
        self.unprocessed_retries = 0

    async def put_lines(self, table: str, lines: list[bytes]) -> None:
        """Put up to 25 items given as DynamoDB-JSON lines (trailing newline allowed)."""
        head = b'{"ReturnConsumedCapacity":"TOTAL","RequestItems":{' + orjson.dumps(table) + b":["
        puts = b",".join(b'{"PutRequest":{"Item":' + line.rstrip(b"\n") + b"}}" for line in lines)
        await self._send(head + puts + b"]}}")

    async def put_items(self, table: str, items: list[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        await self._send({"ReturnConsumedCapacity": "TOTAL", "RequestItems": {table: requests}})

    async def _send(self, body: bytes | dict[str, Any]) -> None:
        async with self._gate:
            for attempt in range(UNPROCESSED_ATTEMPTS):
                await self._limiter.wait()
                response = await self._wire.call("BatchWriteItem", body)
                self._limiter.spend(consumed_units(response))
                unprocessed = response.get("UnprocessedItems") or {}
                if not unprocessed:
                    return
                self.unprocessed_retries += 1
                body = {"ReturnConsumedCapacity": "TOTAL", "RequestItems": unprocessed}
                await asyncio.sleep(self._wire.backoff.delay(attempt))
        left = sum(len(requests) for requests in unprocessed.values())
        raise WireError(
            "BatchWriteItem",
            "UnprocessedItems",
            f"{left} items still unprocessed after {UNPROCESSED_ATTEMPTS} attempts",
        )
