"""Forum snapshots: what `serve` with the in-memory emulator keeps across restarts."""

from __future__ import annotations

import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.bootstrap import open_forum
from orderline.config import Settings
from orderline.domain.access import Actor, Role
from orderline.forum import snapshot
from orderline.forum.importer import Importer
from orderline.forum.model import PostIn, UserIn
from orderline.forum.sample import SAMPLE
from orderline.forum.store import ForumStore

from ..helpers.dynamodb import new_prefix, scan


async def contents(client: Any, prefix: str) -> dict[str, list[str]]:
    tables = [spec.table_name(prefix) for spec in FORUM_TABLES]
    return {
        name[len(prefix) :]: sorted(
            json.dumps(i, sort_keys=True, default=str) for i in await scan(client, name)
        )
        for name in tables
    }


async def test_snapshot_restores_the_same_items(dynamodb: Any, tmp_path: Path) -> None:
    source, target = new_prefix(), new_prefix()
    await ensure_tables(dynamodb, source, FORUM_TABLES)
    await Importer(ForumStore(dynamodb, source, "us-east-1")).run(SAMPLE)
    folder = tmp_path / "snap"
    assert await snapshot.take(dynamodb, source, FORUM_TABLES, folder) == 3 + 3 + 2 + 2
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [t["count"] for t in manifest["tables"]] == [6, 2, 2]  # users + their email guards
    assert manifest["tables"][2]["spec"]["GlobalSecondaryIndexes"][0]["IndexName"] == "ThreadIndex"
    assert await snapshot.restore(dynamodb, target, FORUM_TABLES, folder) == 10
    assert await contents(dynamodb, target) == await contents(dynamodb, source)


async def test_a_tampered_snapshot_is_refused(dynamodb: Any, tmp_path: Path) -> None:
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, FORUM_TABLES)
    await Importer(ForumStore(dynamodb, prefix, "us-east-1")).run(SAMPLE)
    folder = tmp_path / "snap"
    await snapshot.take(dynamodb, prefix, FORUM_TABLES, folder)
    with (folder / "forum-posts.jsonl").open("a") as out:
        out.write('{"Item": {"postId": {"S": "x"}, "threadId": {"S": "1"}}}\n')
    with pytest.raises(snapshot.SnapshotInvalid, match="checksum"):
        await snapshot.restore(dynamodb, new_prefix(), FORUM_TABLES, folder)


async def test_serve_keeps_the_forum_across_a_restart(
    dynamodb: Any, dynamodb_endpoint: str, tmp_path: Path
) -> None:
    """Shut down (final snapshot), start on an empty DynamoDB (new prefix): all there again."""
    first, second = new_prefix(), new_prefix()
    settings = Settings(
        dynamodb_endpoint=dynamodb_endpoint,
        data_dir=tmp_path,
        table_prefix=first,
        forum_snapshot=True,
        forum_snapshot_seconds=3600,
    )
    await ensure_tables(dynamodb, first, FORUM_TABLES)
    # the seed's Alice (import:1), claimed by the principal whose token carries her address
    author = Actor("alice", Role.CUSTOMER, email="alice@example.com")
    async with AsyncExitStack() as stack:
        forum = await open_forum(stack, settings, dynamodb)
        await Importer(forum.store).run(SAMPLE)
        await forum.register(author, UserIn(name="Alice"))
        await forum.create_post(author, "1", PostIn(title="after seed", content="kept"))
    restarted = settings.with_overrides(table_prefix=second)
    async with AsyncExitStack() as stack:
        forum = await open_forum(stack, restarted, dynamodb)
        thread = await forum.thread("1")
        assert thread["postCount"] == 2
        assert await contents(dynamodb, second) == await contents(dynamodb, first)


async def test_a_snapshot_is_private(dynamodb: Any, tmp_path: Path) -> None:
    """It holds the users' emails: 0700 folder, 0600 files, whatever the umask."""
    prefix = new_prefix()
    await ensure_tables(dynamodb, prefix, FORUM_TABLES)
    await Importer(ForumStore(dynamodb, prefix, "us-east-1")).run(SAMPLE)
    folder = tmp_path / "snap"
    previous = os.umask(0)
    try:
        await snapshot.take(dynamodb, prefix, FORUM_TABLES, folder)
        await snapshot.take(dynamodb, prefix, FORUM_TABLES, folder)  # the swap keeps it so
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == 0o700
    files = list(folder.iterdir())
    assert {f.name for f in files} >= {"manifest.json", "forum-users.jsonl"}
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
