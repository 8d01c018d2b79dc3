"""`orderline forum import`: json-server exports into the forum tables.

Rows are validated with the API's rules (`rows.py`); references (a post's thread and user, a
thread's user) must exist in the files or the tables. What is already in the tables is left
alone, so a second run writes nothing. Users go one transaction each (the user and its email
guard: uniqueness is DynamoDB's to decide), posts and threads by BatchWriteItem. Posts are
written before threads, and a new thread carries the count and last-post time of all its valid
posts, so an interrupted run is completed by the next one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from orderline.adapters.dynamodb.codec import Item, to_item
from orderline.adapters.dynamodb.errors import is_condition_failed

from . import dynamo
from .dynamo import Cancelled, values
from .model import now, source_id
from .rows import KINDS, Parsed, Rejected, parse
from .store import THREAD_BUCKET, ForumStore
from .writes import guard_key, put_new

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
KEYS = {"users": ("userId",), "threads": ("threadId",), "posts": ("postId", "threadId")}


@contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


@dataclass
class ImportResult:
    dry_run: bool
    rows: dict[str, int]
    valid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def wrote_nothing(self) -> bool:
        return not any(self.written.values())

    def report(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "rows": self.rows,
            "valid": self.valid,
            "written": self.written,
            "alreadyPresent": self.present,
            "rejected": [asdict(r) for r in self.rejected],
        }


class Importer:
    def __init__(self, store: ForumStore, progress: Progress = no_progress, parallel: int = 8):
        self.store, self.progress, self.parallel = store, progress, parallel
        self.client, self.tables = store.client, store.tables

    async def run(self, source: dict[str, list[Any]], *, dry_run: bool = False) -> ImportResult:
        parsed = parse(source, now())
        result = ImportResult(dry_run, parsed.rows, rejected=parsed.rejected)
        users = await self._users(parsed, result)
        threads = await self._referencing(parsed, "threads", {"userId": users})
        thread_ids = {t["threadId"] for t in threads} | await self._existing_ids(
            "threads", {p["threadId"] for p in parsed.items["posts"]}
        )
        posts = await self._referencing(parsed, "posts", {"threadId": thread_ids, "userId": users})
        new_posts = await self._absent("posts", posts, result)
        new_threads = await self._absent("threads", threads, result)
        result.valid.update(threads=len(threads), posts=len(posts))
        if not dry_run:
            await self._put_all("posts", [self.store.stamp(p) for p in new_posts], result)
            await self._put_all("threads", self._counted(new_threads, posts), result)
            await self._count_into_existing(new_posts, {t["threadId"] for t in new_threads})
        result.rejected = parsed.rejected
        return result

    # -- users: one transaction each (user + email guard) ---------------------------------------

    async def _users(self, parsed: Parsed, result: ImportResult) -> set[str]:
        """Write the new users; return every user id posts may name (file and table)."""
        items = parsed.items["users"]
        new = await self._absent("users", items, result)
        gate = asyncio.Semaphore(self.parallel)
        valid = {u["userId"] for u in items}
        if result.dry_run:  # what the guards would refuse
            valid -= await self._taken_emails(new, parsed)
        with self.progress("users", len(new)) as advance:

            async def one(user: Item) -> None:
                async with gate:
                    if not result.dry_run and not await self._create_user(user, parsed):
                        valid.discard(user["userId"])
                    advance(1)

            await asyncio.gather(*(one(user) for user in new))
        result.valid["users"] = len(valid)
        result.written["users"] = 0 if result.dry_run else len(new) - (len(items) - len(valid))
        referenced = {p.get("userId") for kind in ("threads", "posts") for p in parsed.items[kind]}
        return valid | await self._existing_ids("users", {r for r in referenced if r} - valid)

    async def _taken_emails(self, users: list[Item], parsed: Parsed) -> set[str]:
        guards = [{"userId": guard_key(u["email"])} for u in users]
        taken = await dynamo.existing_keys(self.client, self.tables.users, guards)
        refused = {u["userId"] for u in users if (guard_key(u["email"]),) in taken}
        for user in users:
            if user["userId"] in refused:
                parsed.reject_item("users", user["userId"], f"duplicate email: {user['email']}")
        return refused

    async def _create_user(self, user: Item, parsed: Parsed) -> bool:
        item = self.store.stamp(user)
        guard = {"userId": guard_key(item["email"]), "owner": item["userId"]}
        writes = [
            put_new(self.tables.users, item, "userId"),
            put_new(self.tables.users, guard, "userId"),
        ]
        try:
            await dynamo.transact(self.client, writes)
            return True
        except Cancelled as exc:
            reason = "already registered" if exc.failed(0) else "duplicate email"
            parsed.reject_item("users", user["userId"], f"{reason}: {item['email']} is taken")
            return False

    # -- references and presence ----------------------------------------------------------------

    async def _referencing(
        self, parsed: Parsed, kind: str, known: dict[str, set[str]]
    ) -> list[Item]:
        """The items whose references exist; the others rejected ("missing thread/user")."""
        kept = []
        for item in parsed.items[kind]:
            missing = [ref for ref, ids in known.items() if ref in item and item[ref] not in ids]
            if missing:
                ref = missing[0]
                key = item[KEYS[kind][0]]
                parsed.reject_item(kind, key, f"missing {ref[:-2]} {source_id(item[ref])}")
            else:
                kept.append(item)
        return kept

    async def _existing_ids(self, kind: str, ids: set[str]) -> set[str]:
        table = getattr(self.tables, kind)
        keys = [{KEYS[kind][0]: i} for i in sorted(ids)]
        return {found[0] for found in await dynamo.existing_keys(self.client, table, keys)}

    async def _absent(self, kind: str, items: list[Item], result: ImportResult) -> list[Item]:
        """The items not yet in their table (the rest counted as already present)."""
        keys = [dynamo.key_of(item, KEYS[kind]) for item in items]
        present = await dynamo.existing_keys(self.client, getattr(self.tables, kind), keys)
        new = [i for i in items if tuple(str(i[k]) for k in KEYS[kind]) not in present]
        result.present[kind] = len(items) - len(new)
        return new

    # -- bulk writes ----------------------------------------------------------------------------

    async def _put_all(self, kind: str, items: list[Item], result: ImportResult) -> None:
        table = getattr(self.tables, kind)
        step = dynamo.BATCH_WRITE_LIMIT * self.parallel
        with self.progress(kind, len(items)) as advance:
            for at in range(0, len(items), step):
                chunk = items[at : at + step]
                puts = [{"PutRequest": {"Item": to_item(i)}} for i in chunk]
                await dynamo.write_all(self.client, table, puts, parallel=self.parallel)
                advance(len(chunk))
        result.written[kind] = len(items)

    def _counted(self, threads: list[Item], posts: list[Item]) -> list[Item]:
        """New threads with the count and last-post time of all their valid posts."""
        counts: dict[str, int] = defaultdict(int)
        last: dict[str, str] = {}
        for post in posts:
            counts[post["threadId"]] += 1
            last[post["threadId"]] = max(last.get(post["threadId"], ""), post["createdAt"])
        return [
            self.store.stamp(
                {
                    **t,
                    "bucket": THREAD_BUCKET,
                    "postCount": counts[t["threadId"]],
                    "lastPostAt": last.get(t["threadId"]),
                }
            )
            for t in threads
        ]

    async def _count_into_existing(self, posts: list[Item], new_threads: set[str]) -> None:
        """Posts added to threads that were already there: their count and last-post time."""
        added: dict[str, list[str]] = defaultdict(list)
        for post in posts:
            if post["threadId"] not in new_threads:
                added[post["threadId"]].append(post["createdAt"])
        for thread_id, times in added.items():
            key = dynamo.raw_key({"threadId": thread_id})
            await self.client.update_item(
                TableName=self.tables.threads,
                Key=key,
                UpdateExpression="ADD postCount :n",
                ExpressionAttributeValues=values(n=len(times)),
            )
            await self._raise_last_post(key, max(times))

    async def _raise_last_post(self, key: dict[str, Any], at: str) -> None:
        try:
            await self.client.update_item(
                TableName=self.tables.threads,
                Key=key,
                UpdateExpression="SET lastPostAt = :at",
                ConditionExpression="attribute_not_exists(lastPostAt) OR lastPostAt < :at",
                ExpressionAttributeValues=values(at=at),
            )
        except ClientError as exc:
            if not is_condition_failed(exc):
                raise
