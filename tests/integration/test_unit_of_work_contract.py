"""The unit-of-work contract, run against every implementation: the fake the unit tests use
(`tests/helpers/fakes.py`) and PostgreSQL, so the fake cannot drift from the real one.

What the handlers rely on: `commit` stores every touched order and its events (the outbox) at
once, and lists the events in `committed_events`; leaving without commit keeps nothing; `get`
hands out only live orders; an idempotency key claimed and recorded in a committed transaction
answers its stored response from then on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.unit_of_work import PostgresUnitOfWork
from orderline.domain.order import Order
from orderline.domain.status import OrderStatus as S
from orderline.service_layer.unit_of_work import StoredResponse, UnitOfWork

from ..helpers.factories import T0, placed_order
from ..helpers.fakes import FakeUnitOfWork


@dataclass
class Harness:
    kind: str
    new_uow: Callable[[], UnitOfWork]
    outbox: Callable[[], Awaitable[list[dict[str, Any]]]]  # committed envelopes, oldest first


@pytest.fixture
def fake_harness() -> Harness:
    fake = FakeUnitOfWork()  # one instance: it keeps what was committed across transactions

    async def published() -> list[dict[str, Any]]:
        return list(fake.published)

    return Harness("fake", lambda: fake, published)


@pytest.fixture
def postgres_harness(engine: AsyncEngine) -> Harness:
    async def outbox() -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT payload FROM outbox ORDER BY id"))
            return [row.payload for row in rows]

    return Harness("postgres", lambda: PostgresUnitOfWork(engine), outbox)


@pytest.fixture(params=["fake", "postgres"])
def harness(request: pytest.FixtureRequest) -> Harness:
    found: Harness = request.getfixturevalue(f"{request.param}_harness")
    return found


async def committed_order(harness: Harness) -> Order:
    """An order placed and committed in a transaction of its own."""
    order = placed_order()
    async with harness.new_uow() as uow:
        await uow.orders.add(order)
        await uow.commit()
    return order


async def test_commit_stores_the_order_and_its_events_together(harness: Harness) -> None:
    order = placed_order()
    async with harness.new_uow() as uow:
        await uow.orders.add(order)
        await uow.commit()
    assert [event.event_type for event in uow.committed_events] == ["OrderPlaced"]
    assert [envelope["orderId"] for envelope in await harness.outbox()] == [str(order.id)]
    async with harness.new_uow() as uow:
        stored = await uow.orders.get(order.id)
    assert stored is not None and stored.snapshot() == order.snapshot()


async def test_leaving_without_commit_keeps_nothing(harness: Harness) -> None:
    order = placed_order()
    async with harness.new_uow() as uow:
        await uow.orders.add(order)
    assert uow.committed_events == []
    assert await harness.outbox() == []
    async with harness.new_uow() as uow:
        assert await uow.orders.get(order.id) is None


async def test_saved_changes_and_their_events_follow_the_first_ones(harness: Harness) -> None:
    order = await committed_order(harness)
    async with harness.new_uow() as uow:
        loaded = await uow.orders.get(order.id)
        assert loaded is not None
        loaded.change_status(S.CONFIRMED, user_id="u", reason=None, metadata={}, now=T0)
        await uow.orders.save(loaded)
        await uow.commit()
    assert [event.version for event in uow.committed_events] == [2]
    assert [envelope["version"] for envelope in await harness.outbox()] == [1, 2]
    async with harness.new_uow() as uow:
        again = await uow.orders.get(order.id)
    assert again is not None and (again.status, again.version) == (S.CONFIRMED, 2)


async def test_unknown_and_deleted_orders_are_not_handed_out(harness: Harness) -> None:
    order = await committed_order(harness)
    async with harness.new_uow() as uow:
        loaded = await uow.orders.get(order.id)
        assert loaded is not None
        loaded.delete(user_id="admin", now=T0)
        await uow.orders.save(loaded)
        await uow.commit()
    async with harness.new_uow() as uow:
        assert await uow.orders.get(order.id) is None
        assert await uow.orders.get(uuid4()) is None


async def test_an_idempotency_key_answers_its_committed_response(harness: Harness) -> None:
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-1", "hash-1") is None
        await uow.idempotency.record("a", "key-1", 201, {"id": "first"})
        await uow.commit()
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-1", "hash-2") == StoredResponse(
            "hash-1", 201, {"id": "first"}
        )


async def test_an_idempotency_key_belongs_to_its_principal(harness: Harness) -> None:
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-3", "hash-a") is None
        await uow.idempotency.record("a", "key-3", 201, {"id": "a's"})
        await uow.commit()
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("b", "key-3", "hash-b") is None  # B's own key
        await uow.idempotency.record("b", "key-3", 201, {"id": "b's"})
        await uow.commit()
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-3", "hash-a") == StoredResponse(
            "hash-a", 201, {"id": "a's"}
        )
        assert await uow.idempotency.claim("b", "key-3", "hash-b") == StoredResponse(
            "hash-b", 201, {"id": "b's"}
        )


async def test_an_uncommitted_idempotency_key_is_free_again(harness: Harness) -> None:
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-2", "hash") is None
        await uow.idempotency.record("a", "key-2", 201, {"id": "lost"})
    async with harness.new_uow() as uow:
        assert await uow.idempotency.claim("a", "key-2", "hash") is None
