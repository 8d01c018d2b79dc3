"""The forum's tables: every read and write, each one request or one transaction.

Items are plain dicts (codec-encoded on the way). Conditions carry the invariants: a user
exists once, an address is claimed by one user (a guard item, same transaction), a post and its
thread's `postCount`/`lastPostAt` change together, a write with an expected version applies only
to that version.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import Item, from_item
from orderline.adapters.dynamodb.errors import is_condition_failed
from orderline.adapters.dynamodb.failover_writes import pinned_region
from orderline.adapters.dynamodb.protocol import DynamoDBClient

from . import dynamo
from .dynamo import Cancelled, values
from .model import (
    THREAD_PAGE_KEY,
    THREAD_POSTS_KEY,
    THREAD_VIEW,
    USER_POSTS_KEY,
    Conflict,
    ForumNotFound,
    ForumVersionConflict,
    Key,
    Page,
    now,
)
from .writes import (
    ForumTables,
    delete_guard,
    delete_version,
    guard_key,
    in_one_region,
    put_new,
    put_version,
    version_condition,
)

THREAD_BUCKET = "all"  # the one CreatedAtIndex partition (docs/forum.md: why one)


class ForumStore:
    def __init__(self, client: DynamoDBClient, prefix: str, region: str) -> None:
        self.client = client
        self.tables = ForumTables.under(prefix)
        self.home_region = region

    @property
    def region(self) -> str:  # where this operation writes: home, or failover writes' choice
        return pinned_region() or self.home_region

    def stamp(self, item: Item, version: int = 1) -> Item:
        """A new item's metadata: version, createdAt, updatedAt, updatedRegion."""
        at = item.get("createdAt") or now()
        return {
            **item,
            "createdAt": at,
            "updatedAt": at,
            "version": version,
            "updatedRegion": self.region,
        }

    # -- reads ----------------------------------------------------------------------------------

    async def get(
        self, table: str, key: Key, attributes: tuple[str, ...] | None = None
    ) -> Item | None:
        """A consistent GetItem; `attributes`: only those (a ProjectionExpression)."""
        request: dict[str, Any] = {
            "TableName": table,
            "Key": dynamo.raw_key(key),
            "ConsistentRead": True,
        }
        if attributes:
            request["ProjectionExpression"] = ", ".join(f"#a{n}" for n in range(len(attributes)))
            request["ExpressionAttributeNames"] = {f"#a{n}": a for n, a in enumerate(attributes)}
        response = await self.client.get_item(**request)
        raw = response.get("Item")
        return from_item(raw) if raw else None

    async def user(self, user_id: str) -> Item | None:
        return await self.get(self.tables.users, {"userId": user_id})

    async def thread(self, thread_id: str, *, public_only: bool = False) -> Item | None:
        """The thread; `public_only`: just what a page shows (THREAD_VIEW)."""
        attributes = THREAD_VIEW if public_only else None
        return await self.get(self.tables.threads, {"threadId": thread_id}, attributes)

    async def post(self, post_id: str) -> Item | None:
        """By its partition key alone (the sort key is its threadId)."""
        response = await self.client.query(
            TableName=self.tables.posts,
            KeyConditionExpression="postId = :p",
            ExpressionAttributeValues=values(p=post_id),
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    async def user_by_email(self, email: str) -> Item | None:
        response = await self.client.query(
            TableName=self.tables.users,
            IndexName="EmailIndex",
            KeyConditionExpression="email = :e",
            ExpressionAttributeValues=values(e=email),
        )
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    async def threads_page(self, limit: int, after: Key | None) -> Page:
        request = {
            "TableName": self.tables.threads,
            "IndexName": "CreatedAtIndex",
            "KeyConditionExpression": "#b = :b",
            "ExpressionAttributeNames": {"#b": "bucket"},
            "ExpressionAttributeValues": values(b=THREAD_BUCKET),
            "ScanIndexForward": False,
        }
        return await dynamo.query_page(self.client, request, limit, THREAD_PAGE_KEY, after)

    async def thread_posts(
        self, thread_id: str, *, ascending: bool, limit: int, after: Key | None
    ) -> Page:
        request = {
            "TableName": self.tables.posts,
            "IndexName": "ThreadIndex",
            "KeyConditionExpression": "threadId = :t",
            "ExpressionAttributeValues": values(t=thread_id),
            "ScanIndexForward": ascending,
        }
        return await dynamo.query_page(self.client, request, limit, THREAD_POSTS_KEY, after)

    async def user_posts(self, user_id: str, *, limit: int, after: Key | None) -> Page:
        request = {
            "TableName": self.tables.posts,
            "IndexName": "UserIndex",
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": values(u=user_id),
            "ScanIndexForward": False,
        }
        return await dynamo.query_page(self.client, request, limit, USER_POSTS_KEY, after)

    # -- users ----------------------------------------------------------------------------------

    @in_one_region
    async def create_user(self, user: Item) -> Item:
        """The user and its email guard in one transaction: neither exists without the other."""
        item = self.stamp(user)
        guard = self.stamp({"userId": guard_key(item["email"]), "owner": item["userId"]})
        try:
            await dynamo.transact(
                self.client,
                [
                    put_new(self.tables.users, item, "userId"),
                    put_new(self.tables.users, guard, "userId"),
                ],
            )
        except Cancelled as exc:
            if exc.failed(0):
                raise Conflict(f"user {item['userId']} is already registered") from None
            raise Conflict(f"the email address {item['email']} is already registered") from None
        return item

    @in_one_region
    async def update_user(self, current: Item, changes: Item) -> Item:
        """Changes applied to the version read; a new address swaps guards in the same
        transaction (the old one released only if it is still this user's)."""
        updated = self._changed(current, changes)
        writes = [put_version(self.tables.users, updated, "userId", current["version"])]
        old, new = current.get("email"), updated.get("email")
        if new != old and new is not None:  # a claimed imported user has no address
            if old is not None:
                writes.append(delete_guard(self.tables.users, old, current["userId"]))
            writes.append(
                put_new(
                    self.tables.users,
                    self.stamp({"userId": guard_key(new), "owner": current["userId"]}),
                    "userId",
                )
            )
        try:
            await dynamo.transact(self.client, writes)
        except Cancelled as exc:
            if exc.failed(0):
                raise await self._stale("user", self.tables.users, current) from None
            raise Conflict(f"the email address {new} is already registered") from None
        return updated

    @in_one_region
    async def delete_user(self, current: Item) -> None:
        writes = [
            delete_version(self.tables.users, {"userId": current["userId"]}, current["version"])
        ]
        if "email" in current:  # a claimed imported user has none
            writes.append(delete_guard(self.tables.users, current["email"], current["userId"]))
        try:
            await dynamo.transact(self.client, writes)
        except Cancelled:
            raise await self._stale("user", self.tables.users, current) from None

    # -- threads --------------------------------------------------------------------------------

    @in_one_region
    async def create_thread(self, thread: Item) -> Item:
        item = self.stamp({**thread, "bucket": THREAD_BUCKET, "postCount": 0})
        await self._with_author(item["userId"], put_new(self.tables.threads, item, "threadId"))
        return item

    @in_one_region
    async def update_thread(self, current: Item, changes: Item) -> Item:
        updated = self._changed(current, changes)
        await self._replace(self.tables.threads, "thread", current, changes)
        return updated

    @in_one_region
    async def delete_thread(self, current: Item) -> int:
        """The thread (at the version read), then its posts; returns how many posts went.
        A post written meanwhile fails its transaction: its thread is gone."""
        key = {"threadId": current["threadId"]}
        try:
            await self.client.delete_item(
                TableName=self.tables.threads,
                Key=dynamo.raw_key(key),
                **version_condition("threadId", current["version"]),
            )
        except ClientError as exc:
            if not is_condition_failed(exc):
                raise
            raise await self._stale("thread", self.tables.threads, current) from None
        posts = await dynamo.query_keys(
            self.client,
            {
                "TableName": self.tables.posts,
                "IndexName": "ThreadIndex",
                "KeyConditionExpression": "threadId = :t",
                "ExpressionAttributeValues": values(t=current["threadId"]),
                "ProjectionExpression": "postId, threadId",
            },
        )
        deletes = [
            {"DeleteRequest": {"Key": dynamo.raw_key(dynamo.key_of(p, ("postId", "threadId")))}}
            for p in posts
        ]
        await dynamo.write_all(self.client, self.tables.posts, deletes)
        return len(posts)

    # -- posts ----------------------------------------------------------------------------------

    @in_one_region
    async def create_post(self, post: Item) -> Item:
        """The post, its thread's count and last-post time, one transaction. `lastPostAt` only
        moves forward: a post whose time another has passed meanwhile is stamped again."""
        for _ in range(dynamo.TRANSACT_ATTEMPTS):
            item = self.stamp({**post, "createdAt": now()})
            try:
                await self._with_author(
                    item["userId"],
                    put_new(self.tables.posts, item, "postId"),
                    self._count_post(item),
                )
                return item
            except Cancelled as exc:
                if not exc.failed(2):
                    raise
                if await self.thread(item["threadId"]) is None:
                    raise ForumNotFound("thread", item["threadId"]) from None
        raise dynamo.Busy("the thread kept changing while a post was written")

    def _count_post(self, item: Item) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.tables.threads,
                "Key": dynamo.raw_key({"threadId": item["threadId"]}),
                "UpdateExpression": "ADD postCount :one SET lastPostAt = :at",
                "ConditionExpression": "attribute_exists(threadId) AND "
                "(attribute_not_exists(lastPostAt) OR lastPostAt <= :at)",
                "ExpressionAttributeValues": values(one=1, at=item["createdAt"]),
            }
        }

    @in_one_region
    async def update_post(self, current: Item, changes: Item) -> Item:
        updated = self._changed(current, changes)
        await self._replace(self.tables.posts, "post", current, changes)
        return updated

    @in_one_region
    async def delete_post(self, current: Item) -> None:
        """The post and its thread's count (and last-post time, when it was the newest)."""
        for _ in range(dynamo.TRANSACT_ATTEMPTS):
            thread = await self.thread(current["threadId"])
            writes = [
                delete_version(
                    self.tables.posts,
                    dynamo.key_of(current, ("postId", "threadId")),
                    current["version"],
                )
            ]
            if thread is not None:
                writes.append(await self._uncount(thread, current["postId"]))
            try:
                await dynamo.transact(self.client, writes)
                return
            except Cancelled as exc:
                if exc.failed(0):
                    raise await self._stale("post", self.tables.posts, current) from None
                # the thread changed under us (a new post, a deletion): read it again
        raise dynamo.Busy("the thread kept changing while a post was deleted")

    async def _uncount(self, thread: Item, post_id: str) -> dict[str, Any]:
        newest = await self.thread_posts(thread["threadId"], ascending=False, limit=2, after=None)
        left = [p for p in newest.items if p["postId"] != post_id]
        seen = thread.get("lastPostAt")
        update: dict[str, Any] = {
            "TableName": self.tables.threads,
            "Key": dynamo.raw_key({"threadId": thread["threadId"]}),
            "ConditionExpression": "attribute_exists(threadId) AND "
            + ("lastPostAt = :seen" if seen else "attribute_not_exists(lastPostAt)"),
            "ExpressionAttributeValues": values(one=-1, **({"seen": seen} if seen else {})),
        }
        if left:
            update["UpdateExpression"] = "ADD postCount :one SET lastPostAt = :last"
            update["ExpressionAttributeValues"].update(values(last=left[0]["createdAt"]))
        else:
            update["UpdateExpression"] = "ADD postCount :one REMOVE lastPostAt"
        return {"Update": update}

    # -- building blocks ------------------------------------------------------------------------

    def _changed(self, current: Item, changes: Item) -> Item:
        return {
            **current,
            **changes,
            "version": current["version"] + 1,
            "updatedAt": now(),
            "updatedRegion": self.region,
        }

    async def _replace(self, table: str, kind: str, current: Item, changes: Item) -> None:
        """Update the given fields if the item is still at the version read."""
        names = {f"#f{n}": name for n, name in enumerate(changes)}
        sets = [f"#f{n} = :f{n}" for n in range(len(changes))]
        plain = {f"f{n}": value for n, value in enumerate(changes.values())}
        hash_key = "threadId" if kind == "thread" else "postId"
        key_names = (hash_key,) if kind == "thread" else ("postId", "threadId")
        try:
            await self.client.update_item(
                TableName=table,
                Key=dynamo.raw_key(dynamo.key_of(current, key_names)),
                UpdateExpression="SET "
                + ", ".join(
                    [*sets, "version = :next", "updatedAt = :at", "updatedRegion = :region"]
                ),
                ConditionExpression=f"attribute_exists({hash_key}) AND version = :v",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(
                    **plain,
                    next=current["version"] + 1,
                    at=now(),
                    region=self.region,
                    v=current["version"],
                ),
            )
        except ClientError as exc:
            if not is_condition_failed(exc):
                raise
            raise await self._stale(kind, table, current) from None

    async def _with_author(self, user_id: str, *writes: dict[str, Any]) -> None:
        """`writes` only while their author is a registered user (a ConditionCheck first)."""
        check = {
            "ConditionCheck": {
                "TableName": self.tables.users,
                "Key": dynamo.raw_key({"userId": user_id}),
                "ConditionExpression": "attribute_exists(userId)",
            }
        }
        try:
            await dynamo.transact(self.client, [check, *writes])
        except Cancelled as exc:
            if exc.failed(0):
                raise ForumNotFound("user", user_id) from None
            raise

    async def _stale(self, kind: str, table: str, current: Item) -> Exception:
        """What a failed version condition means now: gone (404) or changed (412)."""
        hash_key = {"user": "userId", "thread": "threadId", "post": "postId"}[kind]
        if kind == "post":
            found = await self.post(current["postId"])
        else:
            found = await self.get(table, {hash_key: current[hash_key]})
        if found is None:
            return ForumNotFound(kind, current[hash_key])
        return ForumVersionConflict(kind, current["version"], found["version"])
