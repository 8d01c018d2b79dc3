"""Live tracking's `ChangeFeed`, run against every implementation: the fake the unit tests use
(`FakeChangeFeed` in tests/helpers/fakes.py) and PostgreSQL (`PostgresChangeFeed`), so the fake
cannot drift from the real one.

What the hub relies on: `head` is the position of the last released row; `since` hands out
released rows after a position in position order (a transaction's rows together, transactions
in commit order here, where none overlap; tests/integration/test_live_position.py has the
overlapping ones on PostgreSQL); `replay` filters a range by the
subscription's topic and ownership; `listen` wakes its caller on every commit and says when its
connection is lost, so the hub can listen again and catch up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.live_feed import PostgresChangeFeed
from orderline.adapters.postgres.unit_of_work import PostgresUnitOfWork
from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Order
from orderline.domain.status import OrderStatus as S
from orderline.live.changes import Topic, split_position
from orderline.live.ports import ChangeFeed, Released
from orderline.service_layer.unit_of_work import UnitOfWork

from ..helpers.factories import T0, placed_order
from ..helpers.fakes import FakeChangeFeed, FakeUnitOfWork
from ..helpers.transactions import settled


@dataclass
class Outbox:
    kind: str
    new_uow: Callable[[], UnitOfWork]
    feed: ChangeFeed
    terminate: Callable[[int], Awaitable[None]]  # kill a listening connection by its pid


@pytest.fixture
def fake_outbox() -> Outbox:
    uow = FakeUnitOfWork()  # one instance: it keeps what was committed across transactions
    feed = FakeChangeFeed(uow)

    async def terminate(pid: int) -> None:
        feed.terminate(pid)

    return Outbox("fake", lambda: uow, feed, terminate)


@pytest.fixture
def postgres_outbox(engine: AsyncEngine, schema: str) -> Outbox:
    channel = f"ch_{schema}"  # this test's own: commits of other tests wake nobody here

    async def terminate(pid: int) -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    feed = PostgresChangeFeed(engine, channel)
    return Outbox("postgres", lambda: PostgresUnitOfWork(engine, channel), feed, terminate)


@pytest.fixture(params=["fake", "postgres"])
def outbox(request: pytest.FixtureRequest) -> Outbox:
    found: Outbox = request.getfixturevalue(f"{request.param}_outbox")
    return found


async def commit(outbox: Outbox, *orders: Order) -> None:
    """Each order placed in a transaction of its own, in the order given."""
    for order in orders:
        async with outbox.new_uow() as uow:
            await uow.orders.add(order)
            await uow.commit()


async def test_head_and_since_follow_the_committed_rows_in_commit_order(outbox: Outbox) -> None:
    feed = outbox.feed
    assert await feed.head() == 0
    orders = [placed_order(restaurant_id=f"r{n}") for n in range(3)]
    await commit(outbox, *orders)
    released = await settled(feed, 0)
    rows = released.changes
    assert not released.waiting
    assert [row.order_id for row in rows] == [str(order.id) for order in orders]
    assert [row.restaurant_id for row in rows] == ["r0", "r1", "r2"]
    assert rows[0].id < rows[1].id < rows[2].id
    assert rows[0].position < rows[1].position < rows[2].position == await feed.head()
    assert [split_position(row.position)[1] for row in rows] == [row.id for row in rows]
    assert (await feed.since(rows[0].position, 10)).changes == rows[1:]
    assert (await feed.since(rows[0].position, 1)).changes == rows[1:2]
    assert await feed.since(rows[2].position, 10) == Released([], waiting=False)


async def test_a_transactions_rows_share_its_xid_and_come_out_in_id_order(outbox: Outbox) -> None:
    first = placed_order()
    await commit(outbox, first)
    async with outbox.new_uow() as uow:  # one transaction, three rows
        loaded = await uow.orders.get(first.id)
        assert loaded is not None
        for minutes, status in enumerate((S.CONFIRMED, S.PROCESSING), 1):
            loaded.change_status(status, user_id="u", now=T0 + timedelta(minutes=minutes))
        await uow.orders.save(loaded)
        await uow.orders.add(placed_order())
        await uow.commit()
    rows = (await settled(outbox.feed, 0)).changes
    xids = [split_position(row.position)[0] for row in rows]
    assert xids[0] < xids[1] == xids[2] == xids[3]
    assert [row.id for row in rows] == sorted(row.id for row in rows)


async def test_an_uncommitted_transaction_leaves_nothing_to_read(outbox: Outbox) -> None:
    await commit(outbox, placed_order())
    await settled(outbox.feed, 0)
    head = await outbox.feed.head()
    async with outbox.new_uow() as uow:
        await uow.orders.add(placed_order())
    assert await outbox.feed.head() == head
    assert (await outbox.feed.since(head, 10)).changes == []


async def test_replay_hands_out_what_the_topic_admits_between_two_positions(
    outbox: Outbox,
) -> None:
    start = await outbox.feed.head()
    a = placed_order(customer_id="c1", restaurant_id="r1")
    b = placed_order(customer_id="c2", restaurant_id="r1")
    c = placed_order(customer_id="c1", restaurant_id="r2")
    await commit(outbox, a, b, c)
    async with outbox.new_uow() as uow:
        loaded = await uow.orders.get(a.id)
        assert loaded is not None
        loaded.change_status(S.CONFIRMED, user_id="u", now=T0 + timedelta(minutes=1))
        await uow.orders.save(loaded)
        await uow.commit()
    last = (await settled(outbox.feed, start)).changes[-1]
    end = await outbox.feed.head()
    assert end == last.position

    async def replayed(topic: Topic, upto: int = end, limit: int = 10) -> list[tuple[str, int]]:
        changes = await outbox.feed.replay(start, upto, topic, limit)
        names = {str(a.id): "a", str(b.id): "b", str(c.id): "c"}
        return [(names[change.order_id], change.view["version"]) for change in changes]

    assert await replayed(Topic(EVERYTHING)) == [("a", 1), ("b", 1), ("c", 1), ("a", 2)]
    assert await replayed(Topic.order(a.id, EVERYTHING)) == [("a", 1), ("a", 2)]
    assert await replayed(Topic.restaurant("r1", EVERYTHING)) == [("a", 1), ("b", 1), ("a", 2)]
    assert await replayed(Topic(Ownership(customer_id="c1"))) == [("a", 1), ("c", 1), ("a", 2)]
    assert await replayed(Topic.restaurant("r1", Ownership(customer_id="c2"))) == [("b", 1)]
    assert await replayed(Topic(Ownership(restaurant_id="r2"))) == [("c", 1)]
    assert await replayed(Topic.restaurant("r2", Ownership(restaurant_id="r1"))) == []
    first_two = (await outbox.feed.since(start, 2)).changes[-1].position
    assert await replayed(Topic(EVERYTHING), upto=first_two) == [("a", 1), ("b", 1)]
    assert await replayed(Topic(EVERYTHING), limit=1) == [("a", 1)]


async def test_a_listener_is_woken_by_a_commit_and_told_when_its_connection_is_lost(
    outbox: Outbox,
) -> None:
    woken, lost = asyncio.Event(), asyncio.Event()
    async with outbox.feed.listen(woken.set, lost.set) as pid:
        assert isinstance(pid, int)
        assert not woken.is_set()
        await commit(outbox, placed_order())
        await asyncio.wait_for(woken.wait(), 10)
        assert not lost.is_set()
        await outbox.terminate(pid)
        await asyncio.wait_for(lost.wait(), 10)
