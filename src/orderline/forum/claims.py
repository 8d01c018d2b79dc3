"""Imported users and the principals who claim them.

An imported (json-server) user lives in the `import:` id space, which no token subject owns. The
holder of a token whose verified address is the imported user's claims it by registering: one
transaction makes the new user (listing what it `claimed`), hands the address's guard to it, and
marks the imported user with its `owner` (dropping the address: one user per address). From then
on the owner edits the imported user's threads and posts (`service.ForumService._owns`).
"""

from __future__ import annotations

from typing import Any

from orderline.adapters.dynamodb.codec import Item

from . import dynamo
from .dynamo import Cancelled, values
from .model import Conflict, now
from .store import ForumStore
from .writes import guard_key, in_one_region, put_new


async def email_holder(store: ForumStore, email: str) -> str | None:
    """The user id whose guard holds a normalized address, if any."""
    guard = await store.get(store.tables.users, {"userId": guard_key(email)})
    return str(guard["owner"]) if guard else None


@in_one_region
async def claim(store: ForumStore, user: Item, imported: str) -> Item:
    """Register `user` with the address the imported user `imported` holds, claiming it; 409
    when either is registered or claimed meanwhile."""
    item = store.stamp({**user, "claimed": [imported]})
    me, email, table = item["userId"], item["email"], store.tables.users
    writes = [
        put_new(table, item, "userId"),
        move_guard(table, email, imported, me, item["updatedRegion"]),
        mark_claimed(table, imported, me, email, item["createdAt"], item["updatedRegion"]),
    ]
    try:
        await dynamo.transact(store.client, writes)
    except Cancelled as exc:
        if exc.failed(0):
            raise Conflict(f"user {me} is already registered") from None
        raise Conflict(f"the email address {email} is already registered") from None
    return item


def move_guard(table: str, email: str, holder: str, owner: str, region: str) -> dict[str, Any]:
    """Hand an address from `holder` to `owner`, only if `holder` still has it."""
    return {
        "Update": {
            "TableName": table,
            "Key": dynamo.raw_key({"userId": guard_key(email)}),
            "UpdateExpression": "SET #o = :owner, updatedAt = :at, updatedRegion = :region",
            "ConditionExpression": "#o = :holder",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": values(
                owner=owner, holder=holder, at=now(), region=region
            ),
        }
    }


def mark_claimed(
    table: str, imported: str, owner: str, email: str, at: str, region: str
) -> dict[str, Any]:
    """The imported user becomes `owner`'s and gives up its address, only if it is unclaimed
    and still holds `email`."""
    return {
        "Update": {
            "TableName": table,
            "Key": dynamo.raw_key({"userId": imported}),
            "UpdateExpression": "SET #o = :owner, updatedAt = :at, updatedRegion = :region "
            "ADD version :one REMOVE email",
            "ConditionExpression": "attribute_not_exists(#o) AND email = :email",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": values(
                owner=owner, at=at, one=1, email=email, region=region
            ),
        }
    }
