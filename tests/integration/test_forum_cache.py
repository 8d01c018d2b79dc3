"""The thread page cache across API processes (both DynamoDBs): two services on the same
tables, each with its own cache, stand for two processes. A write through one is seen by the
other within the cache's ttl, and by itself at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.domain.access import Actor, Role
from orderline.forum.cache import ThreadCache
from orderline.forum.importer import Importer
from orderline.forum.model import PostIn, ThreadPatch, UserIn
from orderline.forum.sample import SAMPLE
from orderline.forum.service import ForumService
from orderline.forum.store import ForumStore

from ..helpers.dynamodb import new_prefix

TTL = 0.5


async def page(forum: ForumService) -> tuple[int, str, int]:
    """What a reader sees: the thread's count and title, the first page's length."""
    thread = await forum.thread("1")
    posts = await forum.thread_posts("1", "asc", 20, None)
    return thread["postCount"], thread["title"], len(posts.items)


async def seen_within(forum: ForumService, expected: tuple[int, str, int]) -> float:
    """Seconds until `forum` shows `expected` (read every 20 ms, for at most 3 ttls)."""
    began = time.monotonic()
    while await page(forum) != expected:
        assert time.monotonic() - began < 3 * TTL, await page(forum)
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_a_write_in_one_process_reaches_another_within_the_ttl(dynamodb: Any) -> None:
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, FORUM_TABLES)
    store = ForumStore(dynamodb, prefix, "us-east-1")
    await Importer(store).run(SAMPLE)
    writer = ForumService(store, ThreadCache(ttl=TTL))
    reader = ForumService(ForumStore(dynamodb, prefix, "us-east-1"), ThreadCache(ttl=TTL))
    alice = Actor("alice", Role.CUSTOMER, email="alice@example.com")
    await writer.register(alice, UserIn(name="Alice"))
    before = await page(reader)
    assert before == await page(writer)
    count, title, shown = before

    await writer.create_post(alice, "1", PostIn(title="new", content="hello"))
    assert await page(writer) == (count + 1, title, shown + 1)  # its own write: at once
    assert await page(reader) == before  # the other process: still its cached page
    assert await seen_within(reader, (count + 1, title, shown + 1)) <= TTL + 0.1

    current = await writer.thread("1")
    await writer.update_thread(alice, "1", ThreadPatch(title="renamed"), current["version"])
    assert (await writer.thread("1"))["title"] == "renamed"
    assert await seen_within(reader, (count + 1, "renamed", shown + 1)) <= TTL + 0.1


async def test_writes_read_the_table_not_the_cache(dynamodb: Any) -> None:
    """An edit through a process whose cache holds an older version is checked against the
    current one (no spurious 412, no lost update)."""
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, FORUM_TABLES)
    store = ForumStore(dynamodb, prefix, "us-east-1")
    await Importer(store).run(SAMPLE)
    first = ForumService(store, ThreadCache(ttl=60))
    second = ForumService(ForumStore(dynamodb, prefix, "us-east-1"), ThreadCache(ttl=60))
    alice = Actor("alice", Role.CUSTOMER, email="alice@example.com")
    await first.register(alice, UserIn(name="Alice"))
    old = await first.thread("1")  # cached at version 1 for a minute
    await second.update_thread(alice, "1", ThreadPatch(title="one"), old["version"])
    edited = await first.update_thread(alice, "1", ThreadPatch(title="two"), None)
    assert edited["version"] == old["version"] + 2 and edited["title"] == "two"
