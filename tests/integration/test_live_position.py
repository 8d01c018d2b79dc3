"""Live tracking's position on PostgreSQL, with transactions that overlap: a row is released once
every older transaction has ended, so a rolled-back transaction holds nothing back and a
transaction that took a lower outbox id but commits late is released after (never behind) the
positions already handed out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.live_feed import PostgresChangeFeed
from orderline.adapters.postgres.migrate import upgrade
from orderline.domain.access import EVERYTHING
from orderline.live.changes import Change, Topic, split_position
from orderline.live.hub import Hub, LivePolicy
from orderline.live.subscription import Subscription
from orderline.workers.runner import in_background

from ..helpers.transactions import open_transaction, settled


@asynccontextmanager
async def following(engine: AsyncEngine, schema: str, **policy: Any) -> AsyncIterator[Hub]:
    """A hub on the test's schema; no poll in a test's lifetime: only NOTIFY and rechecks."""
    channel = f"ch_{schema}"
    feed = PostgresChangeFeed(engine, channel)
    hub = Hub(feed, LivePolicy(**{"poll_seconds": 60.0, **policy}))
    async with in_background([hub.run]):
        await hub.ready.wait()
        yield hub


async def next_change(sub: Subscription, seconds: float = 5.0) -> Change:
    change = await sub.next(idle=seconds)
    assert change is not None, f"no change within {seconds} s"
    return change


async def test_a_late_commit_with_a_lower_id_comes_after_the_released_position(
    engine: AsyncEngine, schema: str
) -> None:
    feed = PostgresChangeFeed(engine, f"ch_{schema}")
    async with open_transaction(engine) as early, open_transaction(engine) as late:
        early_xid = await early.take_xid()
        late_id = await late.write()  # the lower id, from the younger transaction
        early_id = await early.write()
        assert late_id < early_id
        await early.commit()  # only `late` is still open, and it is younger: `early` is out
        (first,) = (await settled(feed, 0)).changes
        assert (first.id, split_position(first.position)[0]) == (early_id, early_xid)
        assert await feed.head() == first.position
        await late.commit()
    (second,) = (await settled(feed, first.position)).changes
    assert second.id == late_id and second.position > first.position
    assert await feed.head() == second.position
    # a client that saw `first` resumes with its position and gets the late commit
    assert await feed.replay(first.position, second.position, Topic(EVERYTHING), 10) == [second]


async def test_a_commit_waits_only_while_an_older_transaction_is_open(
    engine: AsyncEngine, schema: str
) -> None:
    feed = PostgresChangeFeed(engine, f"ch_{schema}")
    async with open_transaction(engine) as older:
        await older.write()
        async with open_transaction(engine) as younger:
            younger_id = await younger.write()
            await younger.commit()
        held = await feed.since(0, 10)
        assert held.changes == [] and held.waiting
        assert await feed.head() == 0
        await older.rollback()  # it never commits: the younger one goes out at once
    released = await settled(feed, 0)
    assert [change.id for change in released.changes] == [younger_id]
    assert not released.waiting


async def test_the_relay_publishing_a_batch_holds_no_commit_back(
    engine: AsyncEngine, schema: str
) -> None:
    feed = PostgresChangeFeed(engine, f"ch_{schema}")
    async with open_transaction(engine) as placing:
        await placing.write()
        await placing.commit()
    (placed,) = (await settled(feed, 0)).changes
    async with open_transaction(engine) as relay:
        relay_xid = await relay.claim_as_relay()  # its row locks took an xid, kept while it
        async with open_transaction(engine) as younger:  # publishes; it promised no rows
            younger_xid = await younger.take_xid()
            younger_id = await younger.write()
            await younger.commit()
        assert relay_xid < younger_xid
        released = await settled(feed, placed.position)  # not held back by the relay
        assert [change.id for change in released.changes] == [younger_id]
        assert await feed.head() == released.changes[0].position
        await relay.commit()


async def test_a_transaction_in_another_database_holds_no_commit_back(
    engine: AsyncEngine, schema: str, database_url: str
) -> None:
    feed = PostgresChangeFeed(engine, f"ch_{schema}")
    elsewhere = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        async with elsewhere.transaction():  # it writes there: an xid, and locks in that database
            await elsewhere.execute(
                "CREATE TEMP TABLE scratch (n int); INSERT INTO scratch VALUES (1)"
            )
            other_xid = int(await elsewhere.fetchval("SELECT pg_current_xact_id()::text"))
            async with open_transaction(engine) as younger:
                younger_xid = await younger.take_xid()
                younger_id = await younger.write()
                await younger.commit()
            assert other_xid < younger_xid
            released = await settled(feed, 0)
            assert [change.id for change in released.changes] == [younger_id]
    finally:
        await elsewhere.close()


def held_seconds() -> float:
    found = REGISTRY.get_sample_value("orderline_live_stage_seconds_sum", {"stage": "held"})
    return found or 0.0


async def test_the_held_stage_measures_how_long_a_commit_waited_for_an_older_transaction(
    engine: AsyncEngine, schema: str
) -> None:
    channel = f"ch_{schema}"
    before = held_seconds()
    async with following(engine, schema) as hub:
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        async with open_transaction(engine, channel) as older:
            await older.take_xid()
            async with open_transaction(engine, channel) as younger:
                younger_id = await younger.write()
                await younger.commit()  # its NOTIFY: the hub sees it committed, held back
            await asyncio.sleep(0.4)
            await older.rollback()
        assert (await next_change(sub)).id == younger_id
    assert held_seconds() - before >= 0.3


async def test_a_rolled_back_transaction_between_two_commits_delays_no_subscriber(
    engine: AsyncEngine, schema: str
) -> None:
    channel = f"ch_{schema}"
    async with following(engine, schema) as hub:
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        async with open_transaction(engine, channel) as first:
            await first.write()
            await first.commit()
        before = await next_change(sub)
        async with open_transaction(engine, channel) as doomed:
            doomed_id = await doomed.write()
            await doomed.rollback()
        async with open_transaction(engine, channel) as second:
            second_id = await second.write()
            await second.commit()
            committed = time.monotonic()
        after = await next_change(sub)
        delay = time.monotonic() - committed
    assert before.id < doomed_id < second_id == after.id and before.position < after.position
    # the NOTIFY of the second commit is all it takes: the gap is not waited for (it was
    # 0.5 s, ORDERLINE_LIVE_GAP_GRACE_SECONDS, before issue 23) and no poll comes (60 s)
    assert delay < 0.3, f"the second commit reached the subscriber after {delay:.3f} s"


async def test_a_rollback_that_held_a_commit_back_releases_it_without_a_notify(
    engine: AsyncEngine, schema: str
) -> None:
    channel = f"ch_{schema}"
    async with following(engine, schema, recheck_seconds=0.05) as hub:
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        async with open_transaction(engine, channel) as older:
            await older.write()
            async with open_transaction(engine, channel) as younger:
                younger_id = await younger.write()
                await younger.commit()
            assert await sub.next(idle=0.3) is None  # held: an older transaction is open
            await older.rollback()  # PostgreSQL notifies nobody of a rollback
            rolled_back = time.monotonic()
        change = await next_change(sub)
        delay = time.monotonic() - rolled_back
    assert change.id == younger_id
    assert delay < 2.0, f"released {delay:.3f} s after the rollback (a poll is 60 s)"


async def test_a_late_commit_reaches_a_live_subscriber_after_the_earlier_release(
    engine: AsyncEngine, schema: str
) -> None:
    channel = f"ch_{schema}"
    async with following(engine, schema) as hub:
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        async with (
            open_transaction(engine, channel) as early,
            open_transaction(engine, channel) as late,
        ):
            await early.take_xid()
            late_id = await late.write()
            early_id = await early.write()
            await early.commit()
            first = await next_change(sub)
            await late.commit()
        second = await next_change(sub)
    assert (first.id, second.id) == (early_id, late_id) and late_id < early_id
    assert first.position < second.position == hub.position


async def test_rows_from_before_the_migration_keep_their_ids_as_positions(
    database_url: str, schema: str
) -> None:
    engine = build_engine(database_url, schema=schema, pool_size=2)
    try:
        await upgrade(engine, "0003")
        async with open_transaction(engine) as before:
            old_ids = [await before.write() for _ in range(3)]
            await before.commit()
        await upgrade(engine)
        feed = PostgresChangeFeed(engine, f"ch_{schema}")
        old = (await settled(feed, 0)).changes
        assert [change.position for change in old] == old_ids  # xid 0: a position is the id
        # a client holding an outbox id from before the upgrade resumes exactly after it
        assert [change.id for change in (await feed.since(old_ids[0], 10)).changes] == old_ids[1:]
        async with open_transaction(engine) as after:
            new_id = await after.write()
            await after.commit()
        (new,) = (await settled(feed, old_ids[-1])).changes
        assert new.id == new_id and new.position > old_ids[-1]
    finally:
        await engine.dispose()
