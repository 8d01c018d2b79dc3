"""The write model on a real PostgreSQL: one outbox row per accepted write, same transaction."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.migrate import current_revision, upgrade
from orderline.adapters.postgres.unit_of_work import PostgresUnitOfWork
from orderline.bootstrap import utc_now
from orderline.domain.errors import DomainError, InvalidTransition
from orderline.domain.status import OrderStatus as S
from orderline.service_layer import commands, handlers

from ..helpers.actors import admin, customer
from ..helpers.factories import place_command


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def place(engine: AsyncEngine, **overrides: object) -> UUID:
    placed = await handlers.place_order(
        place_command(**overrides), PostgresUnitOfWork(engine), utc_now
    )
    return UUID(placed.document["id"])


async def test_every_accepted_write_leaves_exactly_one_outbox_row(engine: AsyncEngine) -> None:
    order_id = await place(engine)
    uow = lambda: PostgresUnitOfWork(engine)  # noqa: E731
    await handlers.change_status(
        commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("u")), uow(), utc_now
    )
    await handlers.change_status(
        commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("u")), uow(), utc_now
    )
    await handlers.update_order(
        commands.UpdateOrder(order_id, actor=admin(), estimated_delivery_time=datetime.now(UTC)),
        uow(),
        utc_now,
    )
    await handlers.delete_order(commands.DeleteOrder(order_id, actor=admin()), uow(), utc_now)

    outbox = await rows(engine, "SELECT event_type, order_version, payload FROM outbox ORDER BY id")
    assert [(r.event_type, r.order_version) for r in outbox] == [
        ("OrderPlaced", 1),
        ("OrderStatusChanged", 2),
        ("OrderUpdated", 3),
        ("OrderDeleted", 4),
    ]
    assert all(r.payload["orderId"] == str(order_id) for r in outbox)
    assert outbox[1].payload["payload"]["previousStatus"] == "PENDING"
    [order] = await rows(engine, "SELECT version, deleted_at FROM orders")
    assert order.version == 4 and order.deleted_at is not None


async def test_stored_order_round_trips_exactly(engine: AsyncEngine) -> None:
    items = [
        commands.ItemLine("a", "A", 3, Decimal("0.10")),
        commands.ItemLine("b", "B", 1, Decimal("99999.99")),
    ]
    order_id = await place(engine, items=items)
    uow = PostgresUnitOfWork(engine)
    async with uow:
        order = await uow.orders.get(order_id)
    assert order is not None
    assert str(order.total.amount) == "100000.29"
    assert [(i.item_id, i.quantity, str(i.unit_price.amount)) for i in order.items] == [
        ("a", 3, "0.10"),
        ("b", 1, "99999.99"),
    ]


async def test_a_failed_transaction_leaves_neither_order_nor_event(engine: AsyncEngine) -> None:
    order_id = await place(engine)
    with pytest.raises(InvalidTransition):
        await handlers.change_status(
            commands.ChangeStatus(order_id, S.DELIVERED, actor=admin("u")),
            PostgresUnitOfWork(engine),
            utc_now,
        )

    class Boom(Exception):
        pass

    async def write_then_die() -> None:
        async with PostgresUnitOfWork(engine) as uow:
            order = await uow.orders.get(order_id)
            assert order is not None
            order.change_status(S.CONFIRMED, user_id="u", now=utc_now())
            await uow.orders.save(order)
            await uow.outbox.append(order.events)
            raise Boom  # dies before commit, after both writes were issued

    with pytest.raises(Boom):
        await write_then_die()
    assert await rows(engine, "SELECT count(*) FROM outbox") == [(1,)]
    assert await rows(engine, "SELECT status, version FROM orders") == [("PENDING", 1)]


async def test_a_rejected_insert_rolls_back_the_outbox_too(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="value too long"):
        await place(engine, customer_id="x" * 65)  # beyond the column; the API stops this earlier
    assert await rows(engine, "SELECT count(*) FROM outbox") == [(0,)]
    assert await rows(engine, "SELECT count(*) FROM orders") == [(0,)]


async def test_notify_is_delivered_only_on_commit(
    engine: AsyncEngine, database_url: str, schema: str
) -> None:
    channel, barrier = f"outbox_{schema}", f"barrier_{schema}"
    heard: asyncio.Queue[str] = asyncio.Queue()
    passed = asyncio.Event()
    listener = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await listener.add_listener(channel, lambda *args: heard.put_nowait(args[2]))
        await listener.add_listener(barrier, lambda *args: passed.set())
        await handlers.place_order(place_command(), PostgresUnitOfWork(engine, channel), utc_now)
        assert await asyncio.wait_for(heard.get(), 5) == channel
        with pytest.raises(DomainError):
            await handlers.change_status(
                commands.ChangeStatus(UUID(int=0), S.CONFIRMED, actor=admin("u")),
                PostgresUnitOfWork(engine, channel),
                utc_now,
            )
        # notifications reach a listener in commit order: once a NOTIFY committed after the
        # failed transaction arrives, one from that transaction would have arrived before it
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": barrier})
        await asyncio.wait_for(passed.wait(), 5)
        assert heard.empty()
    finally:
        await listener.close()


async def test_concurrent_status_changes_lose_nothing(engine: AsyncEngine) -> None:
    order_id = await place(engine)
    targets = [S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED, S.CANCELLED] * 4

    async def change(target: S) -> bool:
        try:
            result = await handlers.change_status(
                commands.ChangeStatus(order_id, target, actor=admin("u")),
                PostgresUnitOfWork(engine),
                utc_now,
            )
        except InvalidTransition:
            return False
        return result.changed

    outcomes = await asyncio.gather(*(change(target) for target in targets))
    successes = sum(outcomes)
    events = await rows(
        engine,
        "SELECT order_version, payload FROM outbox WHERE event_type = 'OrderStatusChanged'"
        " ORDER BY order_version",
    )
    assert len(events) == successes >= 1
    assert [e.order_version for e in events] == list(range(2, successes + 2))
    path = [
        (e.payload["payload"]["previousStatus"], e.payload["payload"]["order"]["status"])
        for e in events
    ]
    for (_, new), (previous, _) in itertools.pairwise(path):
        assert new == previous  # each change starts where the last one ended
    assert all(S(old).can_become(S(new)) for old, new in path)
    [order] = await rows(engine, "SELECT status, version FROM orders")
    assert order.version == successes + 1 and order.status == path[-1][1]


async def test_concurrent_updates_all_land_with_contiguous_versions(engine: AsyncEngine) -> None:
    order_id = await place(engine)
    base = datetime.now(UTC)

    async def update(minutes: int) -> None:
        await handlers.update_order(
            commands.UpdateOrder(
                order_id, actor=admin(), estimated_delivery_time=base + timedelta(minutes=minutes)
            ),
            PostgresUnitOfWork(engine),
            utc_now,
        )

    await asyncio.gather(*(update(n) for n in range(1, 21)))
    versions = await rows(engine, "SELECT order_version FROM outbox ORDER BY order_version")
    assert [v.order_version for v in versions] == list(range(1, 22))
    assert await rows(engine, "SELECT version FROM orders") == [(21,)]


async def test_concurrent_retries_with_one_key_create_one_order(engine: AsyncEngine) -> None:
    async def attempt() -> handlers.CommandResult:
        return await handlers.place_order(
            place_command(idempotency_key="retry-key", request_hash="same"),
            PostgresUnitOfWork(engine),
            utc_now,
        )

    results = await asyncio.gather(*(attempt() for _ in range(10)))
    assert len({r.document["id"] for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await rows(engine, "SELECT count(*) FROM orders") == [(1,)]
    assert await rows(engine, "SELECT count(*) FROM outbox") == [(1,)]


async def test_migrations_are_idempotent(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revision(engine) == "0006"
    statuses = await rows(engine, "SELECT id, name FROM order_statuses ORDER BY id")
    assert [s.name for s in statuses] == [s.value for s in S]


async def test_keys_stored_before_keys_had_principals_still_replay(
    database_url: str, schema: str
) -> None:
    """Migration 0004 (issue 21, finding 5): a customer's key from before the upgrade still
    answers that customer's retry; another principal's same key is a fresh order."""
    engine = build_engine(database_url, schema=schema, pool_size=2)
    try:
        await upgrade(engine, "0003")
        first = await handlers.place_order(
            place_command(customer_id="c1"), PostgresUnitOfWork(engine), utc_now
        )
        async with engine.begin() as conn:  # the row as 0003's code stored it
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (key, request_hash, status_code, response,"
                    " created_at) VALUES ('old-key', 'h', 201, CAST(:body AS jsonb), now())"
                ),
                {"body": json.dumps(first.document)},
            )
        await upgrade(engine)
        retry = place_command(
            customer_id="c1", actor=customer("c1"), idempotency_key="old-key", request_hash="h"
        )
        again = await handlers.place_order(retry, PostgresUnitOfWork(engine), utc_now)
        assert again.replayed and again.document == first.document
        other = place_command(
            customer_id="c2", actor=customer("c2"), idempotency_key="old-key", request_hash="x"
        )
        fresh = await handlers.place_order(other, PostgresUnitOfWork(engine), utc_now)
        assert not fresh.replayed and fresh.document["id"] != first.document["id"]
    finally:
        await engine.dispose()
