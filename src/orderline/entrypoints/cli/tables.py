"""`orderline tables …`: create, describe and delete the read-model tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from orderline.adapters.dynamodb.admin import delete_tables, describe_tables, ensure_tables
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.bootstrap import open_dynamodb
from orderline.config import Settings

from .app import tables_app
from .common import fail, load_settings, services

T = TypeVar("T")


@tables_app.command("create")
def tables_create() -> None:
    """Create missing tables, wait until ACTIVE, enable TTL (safe to repeat).

    Example: ORDERLINE_DYNAMODB_ENDPOINT=http://localhost:8001 orderline tables create
    """
    created = _on_dynamodb(ensure_tables)
    typer.echo(f"created: {', '.join(created)}" if created else "all tables exist")


@tables_app.command("describe")
def tables_describe() -> None:
    """Show each table's status, approximate item count, indexes, stream and TTL.

    The item count is DynamoDB's `ItemCount`, which AWS refreshes about every six hours.

    Example (beside `make run`, nothing to configure): orderline tables describe
    """
    for state in _on_dynamodb(describe_tables):
        if isinstance(state, str):
            typer.echo(f"{state}: missing")
        else:
            typer.echo(
                f"{state.name}: {state.status}, ~{state.items} items, "
                f"indexes [{', '.join(state.indexes)}], stream {state.stream or 'off'}, "
                f"ttl {state.ttl}"
            )


@tables_app.command("delete")
def tables_delete(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the read model is lost.")] = False,
) -> None:
    """Delete every read-model table of the prefix (rebuildable from the outbox).

    Example: orderline tables delete --yes && orderline replay
    """
    if not yes:
        fail("this deletes the read-model tables; pass --yes to confirm")
    deleted = _on_dynamodb(delete_tables)
    typer.echo(f"deleted: {', '.join(deleted)}" if deleted else "no tables to delete")


def _on_dynamodb(action: Callable[[DynamoDBClient, str], Awaitable[T]]) -> T:
    with services(load_settings(), postgres=False, dynamodb=True) as settings:
        return asyncio.run(_with_client(settings, action))


async def _with_client(
    settings: Settings, action: Callable[[DynamoDBClient, str], Awaitable[T]]
) -> T:
    async with open_dynamodb(settings) as client:
        return await action(client, settings.table_prefix)
