"""Small builders for domain objects used by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.service_layer import commands

from ..actors import admin

T0 = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)


def item(item_id: str = "pizza", quantity: int = 1, price: str = "15.99") -> OrderItem:
    return OrderItem(item_id, item_id.title(), quantity, Money.of(price, "USD"))


def location() -> DeliveryLocation:
    return DeliveryLocation("123 Main St", "New York", "10001", 40.7128, -74.006)


def placed_order(*items: OrderItem) -> Order:
    return Order.place(
        order_id=uuid4(),
        customer_id="customer-1",
        restaurant_id="restaurant-1",
        channel_id="default-channel",
        currency="USD",
        items=list(items) or [item()],
        delivery=location(),
        now=T0,
    )


def place_command(**overrides: object) -> commands.PlaceOrder:
    values: dict[str, object] = {
        "customer_id": "customer-1",
        "restaurant_id": "restaurant-1",
        "channel_id": "default-channel",
        "currency": "USD",
        "items": [commands.ItemLine("pizza", "Pizza", 2, Decimal("15.99"))],
        "address": commands.Address("123 Main St", "New York", "10001", 40.7, -74.0),
        "actor": admin(),
    }
    values.update(overrides)
    return commands.PlaceOrder(**values)  # type: ignore[arg-type]


class TickingClock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
