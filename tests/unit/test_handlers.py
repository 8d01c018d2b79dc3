from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from orderline.domain.errors import (
    IdempotencyKeyReused,
    OrderNotEditable,
    OrderNotFound,
    VersionConflict,
)
from orderline.domain.status import OrderStatus as S
from orderline.service_layer import commands, handlers

from ..helpers.actors import admin, customer
from ..helpers.factories import T0, TickingClock, place_command
from ..helpers.fakes import FakeUnitOfWork


async def place(uow: FakeUnitOfWork, **overrides: object) -> UUID:
    placed = await handlers.place_order(place_command(**overrides), uow, TickingClock())
    return UUID(placed.document["id"])


async def test_place_order_commits_the_order_and_one_event() -> None:
    uow = FakeUnitOfWork()
    order_id = await place(uow)
    assert uow.commits == 1
    assert list(uow.rows) == [order_id]
    [event] = uow.published
    assert event["eventType"] == "OrderPlaced" and event["version"] == 1
    assert event["payload"]["order"]["totalAmount"] == "31.98"


async def test_retry_with_the_same_key_returns_the_first_response() -> None:
    uow = FakeUnitOfWork()
    first = await handlers.place_order(
        place_command(idempotency_key="k", request_hash="h"), uow, TickingClock()
    )
    again = await handlers.place_order(
        place_command(idempotency_key="k", request_hash="h"), uow, TickingClock()
    )
    assert again.replayed and again.document == first.document
    assert len(uow.rows) == 1 and len(uow.published) == 1


async def test_same_key_with_another_body_is_refused() -> None:
    uow = FakeUnitOfWork()
    await handlers.place_order(
        place_command(idempotency_key="k", request_hash="h1"), uow, TickingClock()
    )
    with pytest.raises(IdempotencyKeyReused):
        await handlers.place_order(
            place_command(idempotency_key="k", request_hash="h2"), uow, TickingClock()
        )
    assert len(uow.rows) == 1


async def test_change_status_publishes_and_no_op_does_not_commit() -> None:
    uow = FakeUnitOfWork()
    order_id = await place(uow)
    change = commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("u1"))
    result = await handlers.change_status(change, uow, TickingClock())
    assert result.changed and result.document["version"] == 2
    again = await handlers.change_status(change, uow, TickingClock())
    assert not again.changed and again.document["version"] == 2
    assert uow.commits == 2
    assert [e["eventType"] for e in uow.published] == ["OrderPlaced", "OrderStatusChanged"]


async def test_stale_expected_version_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    order_id = await place(uow)
    with pytest.raises(VersionConflict):
        await handlers.change_status(
            commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("u1"), expected_version=7),
            uow,
            TickingClock(),
        )
    assert uow.commits == 1 and uow.rows[order_id].version == 1


async def test_update_then_delete_then_not_found() -> None:
    uow = FakeUnitOfWork()
    order_id = await place(uow)
    eta = T0 + timedelta(hours=2)
    updated = await handlers.update_order(
        commands.UpdateOrder(order_id, actor=admin(), estimated_delivery_time=eta),
        uow,
        TickingClock(),
    )
    document = updated.document
    assert document["estimatedDeliveryTime"] == "2026-01-15T15:00:00.000000Z"
    await handlers.delete_order(
        commands.DeleteOrder(order_id, actor=admin("admin")), uow, TickingClock()
    )
    assert [e["version"] for e in uow.published] == [1, 2, 3]
    with pytest.raises(OrderNotFound):
        await handlers.change_status(
            commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("u1")), uow, TickingClock()
        )


async def test_unknown_order() -> None:
    with pytest.raises(OrderNotFound):
        await handlers.delete_order(
            commands.DeleteOrder(uuid4(), actor=admin()), FakeUnitOfWork(), TickingClock()
        )


async def test_prices_change_only_while_pending_then_only_by_staff_with_a_reason() -> None:
    """Finding 2 (issue 21): a customer re-priced a CONFIRMED order down to 0.01."""
    uow = FakeUnitOfWork()
    order_id = await place(uow, customer_id="c1", actor=customer("c1"))
    cheap = [commands.ItemLine("pizza", "Pizza", 2, Decimal("0.01"))]
    await handlers.change_status(
        commands.ChangeStatus(order_id, S.CONFIRMED, actor=admin("kitchen")), uow, TickingClock()
    )
    with pytest.raises(OrderNotEditable, match=r"items cannot .* is CONFIRMED$"):
        await handlers.update_order(
            commands.UpdateOrder(order_id, actor=customer("c1"), items=cheap), uow, TickingClock()
        )
    with pytest.raises(OrderNotEditable, match="needs a reason"):
        await handlers.update_order(
            commands.UpdateOrder(order_id, actor=admin("ops"), items=cheap), uow, TickingClock()
        )
    assert uow.rows[order_id].version == 2 and str(uow.rows[order_id].total.amount) == "31.98"
    corrected = await handlers.update_order(
        commands.UpdateOrder(order_id, actor=admin("ops"), items=cheap, reason="goodwill"),
        uow,
        TickingClock(),
    )
    assert corrected.document["totalAmount"] == "0.02"
    event = uow.published[-1]
    assert event["eventType"] == "OrderUpdated"
    assert {k: event["payload"][k] for k in ("changedFields", "userId", "reason")} == {
        "changedFields": ["items"],
        "userId": "ops",
        "reason": "goodwill",
    }
