"""The live hub on the fake change feed: every committed change reaches the subscribers whose
topic and ownership admit it, in outbox order, also across a lost LISTEN connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
import pytest

from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.status import OrderStatus as S
from orderline.live.changes import Change, Topic
from orderline.live.hub import Hub, LivePolicy, TooManySubscribers
from orderline.live.subscription import Subscription
from orderline.service_layer import commands, handlers
from orderline.workers.runner import in_background

from ..helpers.actors import admin
from ..helpers.factories import TickingClock
from ..helpers.fakes import FakeChangeFeed, FakeUnitOfWork
from ..helpers.orders import move_in, place_in


@asynccontextmanager
async def running_hub(uow: FakeUnitOfWork, **policy: Any) -> AsyncIterator[Hub]:
    """A hub following `uow`'s outbox; no poll in a test's lifetime, so only the LISTEN
    wake-ups (and the catch-up after a reconnect) deliver."""
    hub = Hub(FakeChangeFeed(uow), LivePolicy(**{"poll_seconds": 60.0, **policy}))
    async with in_background([hub.run]):
        await hub.ready.wait()
        yield hub


async def received(sub: Subscription, count: int) -> list[Change]:
    """The next `count` changes of a subscription (failing if one does not come in 5 s)."""
    changes = []
    while len(changes) < count:
        change = await sub.next(idle=5)
        assert change is not None, f"{len(changes)} of {count} changes came"
        changes.append(change)
    return changes


async def queued(sub: Subscription) -> list[Change]:
    """What the subscription holds right now (without waiting for more)."""
    changes = []
    while (change := await sub.next(idle=0)) is not None:
        changes.append(change)
    return changes


async def test_subscribers_get_every_committed_change_in_outbox_order() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow) as hub:
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        ids = [await place_in(uow) for _ in range(3)]
        await move_in(uow, ids[0], S.CONFIRMED)
        changes = await received(sub, 4)
    assert [change.id for change in changes] == [1, 2, 3, 4]
    assert [(change.order_id, change.view["version"]) for change in changes] == [
        (str(ids[0]), 1),
        (str(ids[1]), 1),
        (str(ids[2]), 1),
        (str(ids[0]), 2),
    ]


async def test_each_topic_sees_only_what_it_follows_as_its_owner_may() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow) as hub:
        everything = hub.subscribe(Topic(EVERYTHING), "staff")
        a = await place_in(uow, customer_id="c1", restaurant_id="r1")
        await received(everything, 1)  # delivered before the others subscribe: not theirs
        one_order = hub.subscribe(Topic.order(a, EVERYTHING), "staff")
        board = hub.subscribe(Topic.restaurant("r1", EVERYTHING), "kitchen")
        customer = hub.subscribe(Topic(Ownership(customer_id="c2")), "c2")
        b = await place_in(uow, customer_id="c2", restaurant_id="r2")
        c = await place_in(uow, customer_id="c2", restaurant_id="r1")
        await move_in(uow, a, S.CONFIRMED)
        await move_in(uow, b, S.CONFIRMED)
        await received(everything, 4)  # the hub hands each change to every subscriber at once
        names = {str(a): "a", str(b): "b", str(c): "c"}

        async def seen(sub: Subscription) -> list[tuple[str, int]]:
            return [(names[ch.order_id], ch.view["version"]) for ch in await queued(sub)]

        assert await seen(one_order) == [("a", 2)]
        assert await seen(board) == [("c", 1), ("a", 2)]
        assert await seen(customer) == [("b", 1), ("c", 1), ("b", 2)]


async def test_what_commits_while_the_listener_is_lost_is_caught_up_after_listening_again() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow) as hub:
        feed = hub.feed
        assert isinstance(feed, FakeChangeFeed) and hub.listener_pid is not None
        sub = hub.subscribe(Topic(EVERYTHING), "staff")
        first = await place_in(uow)
        await received(sub, 1)
        lost_pid = hub.listener_pid
        feed.terminate(lost_pid)
        second = await place_in(uow)  # no listener to wake: only the catch-up can deliver it
        [change] = await received(sub, 1)
        assert change.order_id == str(second) != str(first)
        assert hub.listener_pid not in (None, lost_pid)


async def test_subscriptions_are_capped_per_principal_and_per_process() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow, max_per_principal=2, max_subscribers=3) as hub:
        subs = [hub.subscribe(Topic(EVERYTHING), "c1") for _ in range(2)]
        with pytest.raises(TooManySubscribers, match="for this principal"):
            hub.subscribe(Topic(EVERYTHING), "c1")
        subs.append(hub.subscribe(Topic(EVERYTHING), "c2"))
        with pytest.raises(TooManySubscribers, match="in this process"):
            hub.subscribe(Topic(EVERYTHING), "c3")
        hub.unsubscribe(subs[0])
        assert hub.subscribe(Topic(EVERYTHING), "c1").principal == "c1"


async def test_the_restaurants_board_sees_a_price_correction_and_its_reason() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow) as hub:
        board = hub.subscribe(Topic.restaurant("r1", EVERYTHING), "kitchen")
        order_id = await place_in(uow, restaurant_id="r1")
        await move_in(uow, order_id, S.CONFIRMED)
        cheaper = [commands.ItemLine("pizza", "Pizza", 1, Decimal("9.50"))]
        correction = commands.UpdateOrder(
            order_id, actor=admin("ops"), items=cheaper, reason="price agreed by phone"
        )
        await handlers.update_order(correction, uow, TickingClock())
        *_, change = await received(board, 3)
    data = orjson.loads(change.frame.split(b"data: ", 1)[1])
    assert data["eventType"] == "OrderUpdated" and data["status"]["totalAmount"] == "9.50"
    assert (data["changedFields"], data["reason"]) == (["items"], "price agreed by phone")
