"""Table prefixes for tests, and the clean-up that deletes every table created under them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import boto3

from orderline.adapters.dynamodb.client import client_credentials

issued_prefixes: list[str] = []


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
