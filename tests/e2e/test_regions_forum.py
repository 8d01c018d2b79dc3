"""The forum's writes across two regions (emulators, the replicator double between them).

With failover writes on, a post written while the home region is down lands in the replica,
stamped with the replica's region, and counted there only (post counts are per region). A
uniqueness guard is per region too: the same address registered in both regions inside the
replication lag gives two users one address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import client_credentials, dynamodb_client
from orderline.adapters.dynamodb.codec import from_item
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.config import Settings
from orderline.forum.store import ForumStore
from orderline.forum.writes import guard_key

from ..helpers.cli import invoke
from ..helpers.regions import (
    HOME,
    REPLICA,
    RTO_GOAL,
    TwoRegions,
    cli_env,
    forum_thread,
    region_settings,
    regions,
    replicated_tables,
    serving_regions,
    wait_replicated,
)

__all__ = ["regions"]  # the two emulators: this module's own pair


def _client(regions: TwoRegions, region: str) -> Any:
    url = regions.home_url if region == HOME else regions.replica_url
    return boto3.client("dynamodb", endpoint_url=url, region_name=region, **client_credentials(url))


def _item(regions: TwoRegions, region: str, table: str, key: dict[str, str]) -> dict[str, Any]:
    raw = _client(regions, region).get_item(
        TableName=table, Key={name: {"S": value} for name, value in key.items()}
    )
    return from_item(raw["Item"]) if "Item" in raw else {}


@pytest.fixture
def failover_app(
    regions: TwoRegions, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, Settings]]:
    with serving_regions(regions, database_url, tmp_path, forum_failover_writes=True) as served:
        yield served


def test_failover_writes_land_in_the_replica_while_home_is_down(
    regions: TwoRegions, failover_app: tuple[str, Settings]
) -> None:
    base_url, settings = failover_app
    thread_id = forum_thread(settings)
    wait_replicated(regions, settings, [thread_id], "forum-threads", "threadId")
    wait_replicated(regions, settings, ["anonymous"], "forum-users", "userId")
    threads = f"{settings.table_prefix}forum-threads"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        regions.stop_home()
        try:
            stopped, codes = time.monotonic(), []
            while True:  # 503 until the home circuit opens, then the replica takes the write
                answer = client.post(
                    f"/api/forum/threads/{thread_id}/posts", json={"title": "t", "content": "c"}
                )
                codes.append(answer.status_code)
                if answer.status_code == 201:
                    break
                assert answer.status_code == 503 and "retry-after" in answer.headers, answer.text
                assert time.monotonic() - stopped < RTO_GOAL, codes
            post = answer.json()
            assert post["updatedRegion"] == REPLICA
            stored = _item(
                regions,
                REPLICA,
                f"{settings.table_prefix}forum-posts",
                {"postId": post["postId"], "threadId": thread_id},
            )
            assert stored["updatedRegion"] == REPLICA and stored["updatedAt"]
            assert _item(regions, REPLICA, threads, {"threadId": thread_id})["postCount"] == 1
        finally:
            regions.start_home()
        # the home region never saw the replica's post: the count is per region
        assert _item(regions, HOME, threads, {"threadId": thread_id})["postCount"] == 0
        deadline = time.monotonic() + RTO_GOAL + settings.region_open_seconds
        while True:  # home back: once its circuit is no longer open, writes go home again
            answer = client.post(
                f"/api/forum/threads/{thread_id}/posts", json={"title": "u", "content": "c"}
            )
            if answer.status_code == 201 and answer.json()["updatedRegion"] == HOME:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)


@pytest.fixture
def slow_replication(regions: TwoRegions) -> Iterator[Settings]:
    """Tables in both regions, replicated with a lag long enough to write in both inside it."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    with replicated_tables(regions, prefix, lag=2.0) as settings:
        yield settings


def test_a_uniqueness_guard_holds_per_region_only(
    regions: TwoRegions, slow_replication: Settings
) -> None:
    settings = slow_replication
    home, replica = settings.regions().all
    email = "same@example.com"

    async def register_in_both() -> None:
        async with (
            dynamodb_client(settings, home) as home_client,
            dynamodb_client(settings, replica) as replica_client,
        ):
            at_home = ForumStore(home_client, settings.table_prefix, HOME)
            in_replica = ForumStore(replica_client, settings.table_prefix, REPLICA)
            await at_home.create_user({"userId": "alice", "name": "A", "email": email})
            # inside the lag the replica has no guard yet: its own transaction succeeds
            await in_replica.create_user({"userId": "bob", "name": "B", "email": email})

    asyncio.run(register_in_both())
    wait_replicated(regions, settings, ["alice"], "forum-users", "userId")
    users = f"{settings.table_prefix}forum-users"
    both = _client(regions, REPLICA).query(
        TableName=users,
        IndexName="EmailIndex",
        KeyConditionExpression="email = :e",
        ExpressionAttributeValues={":e": {"S": email}},
    )
    assert sorted(item["userId"]["S"] for item in both["Items"]) == ["alice", "bob"]
    # one guard item per address and region: last writer wins (the replica's, newer, stays)
    guard = _item(regions, REPLICA, users, {"userId": guard_key(email)})
    assert guard["owner"] == "bob" and guard["updatedRegion"] == REPLICA


@pytest.fixture
def watched(regions: TwoRegions, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Both regions' forum tables with streams (as global tables have), the replicator between
    them; the environment of the `dr` commands."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    settings = region_settings(regions, prefix)

    async def streamed_replica() -> None:
        streamed = tuple(dataclasses.replace(spec, stream=True) for spec in FORUM_TABLES)
        async with dynamodb_client(settings, settings.regions().replicas[0]) as client:
            await ensure_tables(client, prefix, streamed)

    asyncio.run(streamed_replica())
    with replicated_tables(regions, prefix):
        yield cli_env(regions, prefix, tmp_path)


def _thread(thread_id: str, region: str, title: str) -> dict[str, Any]:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    item = {"threadId": thread_id, "title": title, "updatedAt": at, "updatedRegion": region}
    return {name: {"S": value} for name, value in item.items()}


async def test_every_conflict_inside_the_lag_is_recorded_with_both_versions(
    regions: TwoRegions, watched: dict[str, str]
) -> None:
    prefix = watched["ORDERLINE_TABLE_PREFIX"]
    settings = region_settings(regions, prefix)
    home, replica = settings.regions().all
    threads = f"{prefix}forum-threads"
    ids = [f"conflict-{n}" for n in range(10)]
    async with (
        dynamodb_client(settings, home) as home_client,
        dynamodb_client(settings, replica) as replica_client,
    ):
        await home_client.put_item(TableName=threads, Item=_thread("alone", HOME, "no conflict"))
        for thread_id in ids:  # the replica's write first, home's inside the lag: home's wins
            await replica_client.put_item(TableName=threads, Item=_thread(thread_id, REPLICA, "r"))
            await home_client.put_item(TableName=threads, Item=_thread(thread_id, HOME, "h"))
    deadline = time.monotonic() + 30
    for thread_id in ids:
        while _item(regions, REPLICA, threads, {"threadId": thread_id})["updatedRegion"] != HOME:
            assert time.monotonic() < deadline, f"{thread_id} never replicated"
            await asyncio.sleep(0.05)
    watch = await invoke(watched, "dr", "watch-conflicts", "--once", "--window", "5")
    assert watch.exit_code == 0, watch.output
    assert "10 conflicts recorded in 2 regions" in watch.output
    listed = await invoke(watched, "dr", "conflicts", "--json")
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)
    assert sorted(json.loads(entry["key"])["threadId"] for entry in entries) == ids
    for entry in entries:  # both versions, whole
        assert entry["region"] == REPLICA and entry["table"] == threads
        assert (entry["lostRegion"], entry["lost"]["title"]) == (REPLICA, "r")
        assert (entry["keptRegion"], entry["kept"]["title"]) == (HOME, "h")
    shown = await invoke(watched, "dr", "conflicts")
    assert "10 conflicts in 2 regions" in shown.output
