"""The one DynamoDB client of a process: retries, timeouts, credentials for emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from orderline.config import Settings

# Emulators accept any credentials; botocore still insists on having some.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "orderline", "aws_secret_access_key": "orderline"}


@asynccontextmanager
async def dynamodb_client(settings: Settings, *, emulator: bool) -> AsyncIterator[Any]:
    config = AioConfig(
        retries={"max_attempts": settings.dynamodb_max_attempts, "mode": "adaptive"},
        connect_timeout=settings.dynamodb_timeout_seconds,
        read_timeout=settings.dynamodb_timeout_seconds,
        max_pool_connections=50,
    )
    credentials = EMULATOR_CREDENTIALS if emulator else {}
    async with get_session().create_client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint,
        config=config,
        **credentials,
    ) as client:
        yield client
