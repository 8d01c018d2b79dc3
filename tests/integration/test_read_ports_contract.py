"""The read side's ports, run against every implementation: the fakes the unit tests use
(`FakeOrderQueries`, `FakeEventLog` in tests/helpers/fakes.py) and PostgreSQL
(`PostgresOrderQueries`, `PostgresEventLog`), so the fakes cannot drift from the real ones.

Each implementation reads what its unit of work committed. What the read path relies on:
`OrderQueries` hands out live orders as API documents (deleted ones only when asked, and in
`scan`), pages newest first by creation with filters and ownership in the query, and lists
recently updated orders first; `EventLog` answers an order's events newest first by version
and every committed event oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.outbox import PostgresEventLog
from orderline.adapters.postgres.queries import PostgresOrderQueries
from orderline.adapters.postgres.unit_of_work import PostgresUnitOfWork
from orderline.domain.access import EVERYTHING, Ownership
from orderline.domain.order import Order
from orderline.domain.status import OrderStatus as S
from orderline.readmodel.ports import EventLog, OrderFilters, OrderQueries
from orderline.service_layer.unit_of_work import UnitOfWork

from ..helpers.factories import T0, placed_order
from ..helpers.fakes import FakeEventLog, FakeOrderQueries, FakeUnitOfWork


@dataclass
class WriteModel:
    kind: str
    new_uow: Callable[[], UnitOfWork]
    queries: OrderQueries
    events: EventLog


@pytest.fixture
def fake_model() -> WriteModel:
    uow = FakeUnitOfWork()  # one instance: it keeps what was committed across transactions
    return WriteModel("fake", lambda: uow, FakeOrderQueries(uow), FakeEventLog(uow))


@pytest.fixture
def postgres_model(engine: AsyncEngine) -> WriteModel:
    return WriteModel(
        "postgres",
        lambda: PostgresUnitOfWork(engine),
        PostgresOrderQueries(engine),
        PostgresEventLog(engine),
    )


@pytest.fixture(params=["fake", "postgres"])
def model(request: pytest.FixtureRequest) -> WriteModel:
    found: WriteModel = request.getfixturevalue(f"{request.param}_model")
    return found


async def commit(model: WriteModel, *orders: Order) -> None:
    async with model.new_uow() as uow:
        for order in orders:
            await uow.orders.add(order)
        await uow.commit()


async def change(model: WriteModel, order_id: UUID, act: Callable[[Order], object]) -> None:
    """Load an order, `act` on it and commit, in a transaction of its own."""
    async with model.new_uow() as uow:
        order = await uow.orders.get(order_id)
        assert order is not None
        act(order)
        await uow.orders.save(order)
        await uow.commit()


def delete(minutes: int) -> Callable[[Order], object]:
    at = T0 + timedelta(minutes=minutes)
    return lambda order: order.delete(user_id="admin", now=at)


def move(status: S, minutes: int) -> Callable[[Order], object]:
    return lambda order: order.change_status(
        status, user_id="u", now=T0 + timedelta(minutes=minutes)
    )


def parties() -> list[Order]:
    """Two customers' orders at two restaurants, a minute apart; the last two at one instant."""
    placed = [("c1", "r1"), ("c2", "r1"), ("c1", "r2"), ("c1", "r1"), ("c2", "r2"), ("c1", "r1")]
    return [
        placed_order(customer_id=customer, restaurant_id=restaurant, now=T0 + timedelta(minutes=n))
        for n, (customer, restaurant) in enumerate(placed)
    ] + [placed_order(customer_id="c1", restaurant_id="r1", now=T0 + timedelta(minutes=5))]


def newest_first(orders: list[Order]) -> list[str]:
    """By creation, newest first; orders created at one instant by id, highest first."""
    return [str(o.id) for o in sorted(orders, key=lambda o: (o.created_at, o.id), reverse=True)]


async def every_page(
    queries: OrderQueries, filters: OrderFilters, ownership: Ownership = EVERYTHING
) -> list[str]:
    """The ids of every page of a listing, two at a time."""
    seen: list[str] = []
    after = None
    while True:
        page = await queries.page(filters, limit=2, after=after, ownership=ownership)
        assert len(page.documents) <= 2
        seen += [document["id"] for document in page.documents]
        if page.next_position is None:
            return seen
        after = page.next_position


# -- OrderQueries ------------------------------------------------------------------------


async def test_get_hands_out_live_orders_and_deleted_ones_only_when_asked(
    model: WriteModel,
) -> None:
    live, gone = placed_order(), placed_order()
    await commit(model, live, gone)
    await change(model, gone.id, delete(1))
    assert await model.queries.get(live.id) == live.snapshot()
    assert await model.queries.get(gone.id) is None
    deleted = await model.queries.get(gone.id, include_deleted=True)
    assert deleted is not None and deleted["deletedAt"] is not None and deleted["version"] == 2
    assert await model.queries.get(uuid4()) is None
    many = await model.queries.get_many([live.id, gone.id, uuid4(), live.id])
    assert many == [live.snapshot()]
    assert await model.queries.get_many([]) == []
    await model.queries.ping()


async def test_pages_are_newest_first_filtered_and_narrowed_by_ownership(
    model: WriteModel,
) -> None:
    orders = parties()
    await commit(model, *orders)
    cancelled, gone = orders[1], orders[2]
    await change(model, cancelled.id, move(S.CANCELLED, 10))
    await change(model, gone.id, delete(11))
    live = [order for order in orders if order is not gone]
    queries = model.queries

    assert await every_page(queries, OrderFilters()) == newest_first(live)
    c1 = [order for order in live if order.customer_id == "c1"]
    assert await every_page(queries, OrderFilters(customer_id="c1")) == newest_first(c1)
    r2 = [order for order in live if order.restaurant_id == "r2"]
    assert await every_page(queries, OrderFilters(restaurant_id="r2")) == newest_first(r2)
    assert await every_page(queries, OrderFilters(status="CANCELLED")) == [str(cancelled.id)]
    r1 = [order for order in live if order.restaurant_id == "r1"]
    assert await every_page(queries, OrderFilters(), Ownership(restaurant_id="r1")) == (
        newest_first(r1)
    )
    others = OrderFilters(customer_id="c2")
    assert await every_page(queries, others, Ownership(customer_id="c1")) == []


async def test_recent_lists_live_orders_most_recently_updated_first(model: WriteModel) -> None:
    orders = parties()
    await commit(model, *orders)
    await change(model, orders[0].id, move(S.CONFIRMED, 60))
    await change(model, orders[3].id, delete(61))
    updated = {order.id: order.updated_at for order in orders if order is not orders[3]}
    updated[orders[0].id] = T0 + timedelta(minutes=60)
    expected = [
        str(i) for i, _ in sorted(updated.items(), key=lambda e: (e[1], e[0]), reverse=True)
    ]

    recent = [document["id"] async for batch in model.queries.recent(3) for document in batch]
    assert recent == expected[:3] and recent[0] == str(orders[0].id)
    everything = [d["id"] async for batch in model.queries.recent(100) for d in batch]
    assert everything == expected


async def test_scan_is_every_order_deleted_ones_too_in_id_order(model: WriteModel) -> None:
    orders = parties()
    await commit(model, *orders)
    await change(model, orders[0].id, delete(30))
    batches = [batch async for batch in model.queries.scan(batch_size=3)]
    assert [len(batch) for batch in batches] == [3, 3, 1]
    by_id = sorted(orders, key=lambda order: order.id)
    assert [document["id"] for batch in batches for document in batch] == [
        str(order.id) for order in by_id
    ]


# -- EventLog ----------------------------------------------------------------------------


async def test_an_orders_events_are_newest_first_and_page_by_version(model: WriteModel) -> None:
    order, other = placed_order(), placed_order()
    await commit(model, order, other)
    for minutes, status in enumerate((S.CONFIRMED, S.PROCESSING, S.SHIPPED), 1):
        await change(model, order.id, move(status, minutes))
    log = model.events

    everything = await log.events_of(order.id, before_version=None, limit=10)
    assert [envelope["version"] for envelope in everything] == [4, 3, 2, 1]
    assert {envelope["orderId"] for envelope in everything} == {str(order.id)}
    page = await log.events_of(order.id, before_version=4, limit=2)
    assert [envelope["version"] for envelope in page] == [3, 2]
    rest = await log.events_of(order.id, before_version=2, limit=10)
    assert [envelope["version"] for envelope in rest] == [1]
    assert await log.events_of(uuid4(), before_version=None, limit=10) == []


async def test_scan_is_every_committed_event_oldest_first(model: WriteModel) -> None:
    committed = []
    for minutes in range(3):
        async with model.new_uow() as uow:
            await uow.orders.add(placed_order(now=T0 + timedelta(minutes=minutes)))
            await uow.commit()
        committed += [event.envelope() for event in uow.committed_events]
    async with model.new_uow() as uow:
        await uow.orders.add(placed_order())  # never committed: not in the log
    batches = [batch async for batch in model.events.scan(batch_size=2)]
    assert [len(batch) for batch in batches] == [2, 1]
    assert [envelope for batch in batches for envelope in batch] == committed
    assert await model.events.count() == 3
