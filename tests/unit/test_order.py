from __future__ import annotations

from datetime import timedelta

import pytest

from orderline.domain.errors import (
    InvalidOrder,
    InvalidTransition,
    OrderNotEditable,
    VersionConflict,
)
from orderline.domain.events import OrderDeleted, OrderPlaced, OrderStatusChanged, OrderUpdated
from orderline.domain.order import MAX_ITEMS
from orderline.domain.status import OrderStatus as S

from ..helpers.factories import T0, item, location, placed_order


def test_placing_computes_totals_and_records_one_event() -> None:
    order = placed_order(item("pizza", 2, "15.99"), item("cola", 3, "2.50"))
    assert str(order.total.amount) == "39.48"
    assert order.status is S.PENDING and order.version == 1
    [event] = order.events
    assert isinstance(event, OrderPlaced)
    assert event.version == 1
    envelope = event.envelope()
    assert envelope["eventType"] == "OrderPlaced"
    assert envelope["orderId"] == str(order.id)
    assert envelope["schemaVersion"] == 1
    assert envelope["payload"]["order"]["totalAmount"] == "39.48"
    assert envelope["payload"]["order"]["items"][1]["totalPrice"] == "7.50"
    assert envelope["occurredAt"] == "2026-01-15T13:00:00.000000Z"


def test_an_order_needs_items() -> None:
    with pytest.raises(InvalidOrder, match="at least one item"):
        placed_order().update(now=T0, items=[])


def test_an_order_holds_at_most_max_items() -> None:
    with pytest.raises(InvalidOrder, match="at most"):
        placed_order(*[item(f"i{n}") for n in range(MAX_ITEMS + 1)])


def test_status_change_bumps_version_and_carries_previous_status() -> None:
    order = placed_order()
    assert order.change_status(S.CONFIRMED, user_id="u1", now=T0, metadata={"k": 1}) is True
    assert order.version == 2
    event = order.events[-1]
    assert isinstance(event, OrderStatusChanged)
    assert event.payload["previousStatus"] == "PENDING"
    assert event.payload["order"]["status"] == "CONFIRMED"
    assert event.payload["userId"] == "u1"
    assert event.payload["metadata"] == {"k": 1}


def test_same_status_again_is_a_no_op() -> None:
    order = placed_order()
    assert order.change_status(S.PENDING, user_id="u1", now=T0) is False
    assert order.version == 1 and len(order.events) == 1


def test_forbidden_transition_names_the_allowed_ones() -> None:
    order = placed_order()
    with pytest.raises(InvalidTransition) as caught:
        order.change_status(S.SHIPPED, user_id="u1", now=T0)
    assert caught.value.allowed == ["CONFIRMED", "CANCELLED"]
    assert order.status is S.PENDING and order.version == 1


def test_items_cannot_change_once_processing() -> None:
    order = placed_order()
    order.change_status(S.CONFIRMED, user_id="u", now=T0)
    order.change_status(S.PROCESSING, user_id="u", now=T0)
    with pytest.raises(OrderNotEditable, match="items"):
        order.update(now=T0, items=[item("soup")])
    assert order.update(now=T0, estimated_delivery_time=T0 + timedelta(hours=1)) == [
        "estimatedDeliveryTime"
    ]


def test_nothing_changes_after_a_final_status() -> None:
    order = placed_order()
    order.change_status(S.CANCELLED, user_id="u", now=T0)
    with pytest.raises(OrderNotEditable):
        order.update(now=T0, estimated_delivery_time=T0)


def test_update_records_only_real_changes() -> None:
    order = placed_order(item("pizza"))
    assert order.update(now=T0, items=[item("pizza")], delivery=location()) == []
    assert order.version == 1
    assert order.update(now=T0, items=[item("pizza", 2)]) == ["items"]
    assert isinstance(order.events[-1], OrderUpdated)
    assert order.version == 2 and str(order.total.amount) == "31.98"


def test_delete_is_an_event_with_a_new_version() -> None:
    order = placed_order()
    order.delete(now=T0, user_id="admin")
    assert order.deleted_at == T0 and order.version == 2
    assert isinstance(order.events[-1], OrderDeleted)


def test_expect_version() -> None:
    order = placed_order()
    order.expect_version(None)
    order.expect_version(1)
    with pytest.raises(VersionConflict) as caught:
        order.expect_version(3)
    assert caught.value.actual == 1
