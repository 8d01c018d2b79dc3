"""The one DynamoDB client of a process: retries, timeouts, credentials for emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from orderline.config import Settings

from .instrumentation import instrument

# Emulators accept any credentials; botocore still insists on having some.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "orderline", "aws_secret_access_key": "orderline"}


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_emulator(endpoint: str | None) -> bool:
    """An endpoint on this machine is an emulator (moto, DynamoDB Local), never AWS."""
    return endpoint is not None and urlparse(endpoint).hostname in LOCAL_HOSTS


@asynccontextmanager
async def dynamodb_client(settings: Settings) -> AsyncIterator[Any]:
    config = AioConfig(
        retries={
            "max_attempts": settings.dynamodb_max_attempts,
            "mode": settings.dynamodb_retry_mode,
        },
        connect_timeout=settings.dynamodb_timeout_seconds,
        read_timeout=settings.dynamodb_timeout_seconds,
        max_pool_connections=50,
        # Requests are built by our code, not by users; validating each against the service
        # model costs about a tenth of a call's client CPU.
        parameter_validation=False,
    )
    credentials = EMULATOR_CREDENTIALS if is_emulator(settings.dynamodb_endpoint) else {}
    async with get_session().create_client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint,
        config=config,
        **credentials,
    ) as client:
        instrument(client)
        yield client
