"""Paging any forum listing returns every item once, in order (property test, both DynamoDBs).

Timestamps are drawn from a small set, so many items share a `createdAt`: the cursor (the key of
the last item, index key and table key) must still neither skip nor repeat them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.config import Settings
from orderline.forum import dynamo
from orderline.forum.model import Key, Page
from orderline.forum.store import THREAD_BUCKET, ForumStore

from ..helpers.dynamodb import new_prefix

TIMES = [f"2024-05-01T00:00:0{n}.000000Z" for n in range(4)]
Case = list[tuple[int, list[int]]]  # per thread: its time slot, its posts' time slots


async def page_through(fetch: Any, limit: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after: Key | None = None
    while True:
        page: Page = await fetch(limit, after)
        assert len(page.items) <= limit
        seen += page.items
        if page.next_key is None:
            return seen
        after = page.next_key


async def load(store: ForumStore, case: Case, user: str) -> dict[str, list[dict[str, Any]]]:
    threads, posts = [], {}
    for slot, post_slots in case:
        thread = store.stamp(
            {
                "threadId": str(uuid.uuid4()),
                "title": "t",
                "createdAt": TIMES[slot],
                "bucket": THREAD_BUCKET,
                "postCount": len(post_slots),
            }
        )
        threads.append(thread)
        posts[thread["threadId"]] = [
            store.stamp(
                {
                    "postId": str(uuid.uuid4()),
                    "threadId": thread["threadId"],
                    "userId": user,
                    "title": "p",
                    "content": "c",
                    "createdAt": TIMES[s],
                }
            )
            for s in post_slots
        ]
    await dynamo.write_all(
        store.client, store.tables.threads, [{"PutRequest": {"Item": to_item(t)}} for t in threads]
    )
    every = [p for listed in posts.values() for p in listed]
    await dynamo.write_all(
        store.client, store.tables.posts, [{"PutRequest": {"Item": to_item(p)}} for p in every]
    )
    return {"threads": threads, **posts, "user": every}


def check(found: list[dict[str, Any]], expected: list[dict[str, Any]], key: str, asc: bool) -> None:
    ids = [item[key] for item in found]
    assert len(ids) == len(set(ids)), "an item appeared twice"
    assert set(ids) == {item[key] for item in expected}, "an item is missing or foreign"
    times = [item["createdAt"] for item in found]
    assert times == sorted(times, reverse=not asc)


async def scenario(endpoint: str, prefix: str, case: Case, limit: int, known: list[Any]) -> None:
    async with dynamodb_client(Settings(dynamodb_endpoint=endpoint)) as client:
        await ensure_tables(client, prefix, FORUM_TABLES)
        store = ForumStore(client, prefix, "us-east-1")
        user = f"u{uuid.uuid4().hex[:8]}"
        made = await load(store, case, user)
        known += made["threads"]
        check(await page_through(store.threads_page, limit), known, "threadId", asc=False)
        for thread in made["threads"]:
            for asc in (True, False):

                async def fetch(
                    n: int, after: Key | None, t: str = thread["threadId"], a: bool = asc
                ) -> Page:
                    return await store.thread_posts(t, ascending=a, limit=n, after=after)

                check(await page_through(fetch, limit), made[thread["threadId"]], "postId", asc)

        async def mine(n: int, after: Key | None) -> Page:
            return await store.user_posts(user, limit=n, after=after)

        check(await page_through(mine, limit), made["user"], "postId", asc=False)


cases = st.lists(st.tuples(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=9)), max_size=5)


def test_paging_returns_everything_once_in_order(dynamodb_endpoint: str) -> None:
    prefix = new_prefix()
    known: list[Any] = []

    @settings(
        max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(case=cases, limit=st.integers(1, 6))
    def run(case: Case, limit: int) -> None:
        asyncio.run(scenario(dynamodb_endpoint, prefix, case, limit, known))

    run()
