"""The write requests the forum's transactions are built from, with their conditions."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from orderline.adapters.dynamodb.codec import Item, to_item
from orderline.adapters.dynamodb.failover_writes import FailoverWrites
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.tables import FORUM_POSTS, FORUM_THREADS, FORUM_USERS

from .dynamo import raw_key, values
from .model import EMAIL_GUARD, Key

P = ParamSpec("P")
R = TypeVar("R")


class _Writer(Protocol):
    @property
    def client(self) -> DynamoDBClient: ...


W = TypeVar("W", bound=_Writer)


@dataclass(frozen=True)
class ForumTables:
    users: str
    threads: str
    posts: str

    @classmethod
    def under(cls, prefix: str) -> ForumTables:
        return cls(
            FORUM_USERS.table_name(prefix),
            FORUM_THREADS.table_name(prefix),
            FORUM_POSTS.table_name(prefix),
        )


def in_one_region(
    operation: Callable[Concatenate[W, P], Awaitable[R]],
) -> Callable[Concatenate[W, P], Awaitable[R]]:
    """Every write of `operation` in one region (with failover writes: the one chosen as it
    starts, which its items name as `updatedRegion`)."""

    @functools.wraps(operation)
    async def pinned(writer: W, /, *args: P.args, **kwargs: P.kwargs) -> R:
        client = writer.client
        if not isinstance(client, FailoverWrites):
            return await operation(writer, *args, **kwargs)
        with client.pinned():
            return await operation(writer, *args, **kwargs)

    return pinned


def guard_key(email: str) -> str:
    """The userId of the guard item that claims a normalized address."""
    return f"{EMAIL_GUARD}{email}"


def version_condition(hash_key: str, version: int) -> dict[str, Any]:
    return {
        "ConditionExpression": f"attribute_exists({hash_key}) AND version = :v",
        "ExpressionAttributeValues": values(v=version),
    }


def put_new(table: str, item: Item, hash_key: str) -> dict[str, Any]:
    """A Put that only creates."""
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": f"attribute_not_exists({hash_key})",
        }
    }


def put_version(table: str, item: Item, hash_key: str, version: int) -> dict[str, Any]:
    """A Put that replaces the item only at the version read."""
    return {
        "Put": {"TableName": table, "Item": to_item(item), **version_condition(hash_key, version)}
    }


def delete_version(table: str, key: Key, version: int) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": table,
            "Key": raw_key(key),
            **version_condition(next(iter(key)), version),
        }
    }


def delete_guard(table: str, email: str, owner: str) -> dict[str, Any]:
    """Release an address, only if it is (still) this owner's."""
    return {
        "Delete": {
            "TableName": table,
            "Key": raw_key({"userId": guard_key(email)}),
            "ConditionExpression": "attribute_not_exists(userId) OR #o = :o",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": values(o=owner),
        }
    }
