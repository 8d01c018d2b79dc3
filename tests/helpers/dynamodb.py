"""DynamoDB for tests: the implementations a run covers, table prefixes and the clean-up that
deletes every table created under them, and reading a whole table."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from typing import Any

import boto3

from orderline import dynamodb_local
from orderline.adapters.dynamodb.client import client_credentials
from orderline.adapters.dynamodb.codec import from_item

from . import REPO

issued_prefixes: list[str] = []


def dynamodb_backends() -> tuple[list[str], str | None]:
    """The DynamoDB implementations this run covers, and why DynamoDB Local is left out."""
    if os.environ.get("ORDERLINE_TEST_DYNAMODB_ENDPOINT"):
        return ["configured"], None
    reason = dynamodb_local.unavailable_reason(REPO / ".tools")
    if reason is None:
        return ["moto", "dynamodb-local"], None
    return ["moto"], reason


BACKENDS, LOCAL_SKIPPED = dynamodb_backends()


def new_prefix() -> str:
    """A table prefix of a test's own; its tables are deleted when the test ends."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    issued_prefixes.append(prefix)
    return prefix


def delete_tables_of(endpoint: str, prefixes: Iterable[str]) -> list[str]:
    """Delete every table whose name starts with one of `prefixes`; return their names."""
    wanted = tuple(prefixes)
    if not wanted:
        return []
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", **client_credentials(endpoint)
    )
    names = [
        name
        for page in client.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
        if name.startswith(wanted)
    ]
    for name in names:
        client.delete_table(TableName=name)
    return names


def counter_scope(pk: str) -> tuple[str, str | None]:
    """(status or "current", restaurant) of an `order-status-metrics` partition key: every
    event is counted for all restaurants (`STATUS#shard`) and for its own
    (`STATUS#shard#restaurantId`)."""
    parts = pk.split("#")
    return parts[0], parts[2] if len(parts) > 2 else None


async def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table, decoded."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        response = await client.scan(**request)
        items += [from_item(raw) for raw in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
