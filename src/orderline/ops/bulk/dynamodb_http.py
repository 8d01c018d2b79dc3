"""DynamoDB's JSON protocol spoken directly, for the bulk data paths (Scan, BatchWriteItem).

Backups and restores move every item of a table. botocore walks each response item against the
service model (and base64-decodes binaries) only for this tool to encode it back to JSON; here
the wire format *is* the file format (DynamoDB JSON, binaries already base64), so a scan page is
parsed once with orjson and a restore batch is spliced from file lines without parsing them.
Control-plane calls (CreateTable, DescribeTable, ...) keep using the aiobotocore client.

Every call is retried on throttling, 5xx and connection errors with capped exponential backoff
and full jitter; what is still failing after `max_attempts` raises `WireError`, never silently.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import botocore.session
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from orderline.adapters.dynamodb.client import client_credentials
from orderline.config import Settings

TARGET = "DynamoDB_20120810."
RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class WireError(Exception):
    """A DynamoDB call that failed for good (or kept failing past the retries)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.code = code


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter."""

    base: float = 0.05
    cap: float = 10.0
    max_attempts: int = 12

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    throttles: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


class Wire:
    """Signed JSON-protocol calls to one DynamoDB endpoint."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str,
        region: str,
        credentials: Credentials,
        backoff: Backoff | None = None,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._region = region
        self._credentials = credentials
        self.backoff = backoff or Backoff()
        self.stats = CallStats()

    async def call(self, operation: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
        """One call, retried while the failure is transient; the parsed response."""
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        attempt = 0
        while True:
            self.stats.calls += 1
            try:
                status, data = await self._post(operation, payload)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                code, message, status = type(exc).__name__, str(exc), 0
            else:
                if status == 200:
                    parsed: dict[str, Any] = orjson.loads(data)
                    return parsed
                code, message = _error(data)
            if not _retryable(code, status) or attempt + 1 >= self.backoff.max_attempts:
                raise WireError(operation, code, message)
            self._count_retry(code)
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1

    def _count_retry(self, code: str) -> None:
        self.stats.retries += 1
        self.stats.by_code[code] = self.stats.by_code.get(code, 0) + 1
        if code in THROTTLES:
            self.stats.throttles += 1

    async def _post(self, operation: str, payload: bytes) -> tuple[int, bytes]:
        request = AWSRequest(
            method="POST",
            url=self._endpoint,
            data=payload,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": TARGET + operation,
            },
        )
        SigV4Auth(self._credentials, "dynamodb", self._region).add_auth(request)
        async with self._session.post(
            self._endpoint, data=payload, headers=dict(request.headers.items())
        ) as response:
            return response.status, await response.read()


def _error(data: bytes) -> tuple[str, str]:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "HTTPError", data[:200].decode(errors="replace")
    code = str(parsed.get("__type", "Unknown")).rsplit("#", 1)[-1]
    return code, str(parsed.get("message") or parsed.get("Message") or "")


def _retryable(code: str, status: int) -> bool:
    return code in RETRYABLE or status >= 500 or status == 0


def endpoint_of(settings: Settings) -> str:
    return settings.dynamodb_endpoint or f"https://dynamodb.{settings.aws_region}.amazonaws.com"


def credentials_of(settings: Settings) -> Credentials:
    explicit = client_credentials(settings.dynamodb_endpoint)
    if explicit:
        return Credentials(
            explicit["aws_access_key_id"],
            explicit["aws_secret_access_key"],
            explicit.get("aws_session_token"),
        )
    found = botocore.session.Session().get_credentials()
    if found is None:
        raise WireError("credentials", "NoCredentials", "no AWS credentials found")
    return found


@asynccontextmanager
async def open_wire(settings: Settings, connections: int = 64) -> AsyncIterator[Wire]:
    timeout = aiohttp.ClientTimeout(total=60, connect=settings.dynamodb_timeout_seconds * 5)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield Wire(session, endpoint_of(settings), settings.aws_region, credentials_of(settings))
