"""The one DynamoDB client of a process: retries, timeouts, credentials for emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlparse

import botocore.session
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from orderline.config import Settings
from orderline.regions import Region

from .instrumentation import instrument
from .protocol import DynamoDBClient, DynamoDBStreamsClient

# Emulators accept any credentials; botocore still insists on having some. DynamoDB Local keeps
# one database per access key and region, so the user's own credentials win when there are any.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "orderline", "aws_secret_access_key": "orderline"}
# Providers that ask the network (instance and container metadata); no emulator needs them.
REMOTE_PROVIDERS = ("container-role", "iam-role")


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_emulator(endpoint: str | None) -> bool:
    """An endpoint on this machine is an emulator (moto, DynamoDB Local), never AWS."""
    return endpoint is not None and urlparse(endpoint).hostname in LOCAL_HOSTS


def emulator_credentials() -> dict[str, str]:
    """Credentials for an emulator: the standard chain's when it has any, else a fixed pair."""
    session = botocore.session.Session()
    resolver = session.get_component("credential_provider")
    for name in REMOTE_PROVIDERS:
        resolver.remove(name)
    found = session.get_credentials()
    if found is None:
        return dict(EMULATOR_CREDENTIALS)
    frozen = found.get_frozen_credentials()
    credentials = {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
    }
    if frozen.token:
        credentials["aws_session_token"] = frozen.token
    return credentials


def client_credentials(endpoint: str | None) -> dict[str, str]:
    """Explicit credentials for an emulator; none (the standard chain) for AWS."""
    return emulator_credentials() if is_emulator(endpoint) else {}


def _config(settings: Settings) -> AioConfig:
    return AioConfig(
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


@asynccontextmanager
async def dynamodb_client(
    settings: Settings, region: Region | None = None
) -> AsyncIterator[DynamoDBClient]:
    """The client of `region` (default: the home region): the same retries, timeouts and
    metrics for every region; its reads are counted per region by `regions.RegionalClient`."""
    async with _create("dynamodb", settings, region) as client:
        instrument(client)
        yield client


@asynccontextmanager
async def streams_client(
    settings: Settings, region: Region | None = None
) -> AsyncIterator[DynamoDBStreamsClient]:
    """The DynamoDB Streams client: same endpoint, credentials, retries and timeouts."""
    async with _create("dynamodbstreams", settings, region) as client:
        instrument(client)
        yield client


def _create(
    service: str, settings: Settings, region: Region | None = None
) -> AbstractAsyncContextManager[Any]:
    """aiobotocore's client for `service` (it ships no types: the callers name the protocol)."""
    name, endpoint = settings.aws_region, settings.dynamodb_endpoint
    if region is not None:
        name, endpoint = region.name, region.endpoint
    return get_session().create_client(  # type: ignore[no-any-return]
        service,
        region_name=name,
        endpoint_url=endpoint,
        config=_config(settings),
        **client_credentials(endpoint),
    )
