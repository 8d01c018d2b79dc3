"""Small builders for domain objects and commands, and scripted order histories."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands

from .actors import admin

T0 = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
# where `history` starts its clock: three hours ago, on the hour
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def item(item_id: str = "pizza", quantity: int = 1, price: str = "15.99") -> OrderItem:
    return OrderItem(item_id, item_id.title(), quantity, Money.of(price, "USD"))


def location() -> DeliveryLocation:
    return DeliveryLocation("123 Main St", "New York", "10001", 40.7128, -74.006)


def placed_order(
    *items: OrderItem,
    customer_id: str = "customer-1",
    restaurant_id: str = "restaurant-1",
    now: datetime = T0,
) -> Order:
    return Order.place(
        order_id=uuid4(),
        customer_id=customer_id,
        restaurant_id=restaurant_id,
        channel_id="default-channel",
        currency="USD",
        items=list(items) or [item()],
        delivery=location(),
        now=now,
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


def history(scripts: list[list[str]], rng: random.Random) -> list[dict[str, Any]]:
    """Play each order's script through the aggregate; return every event's envelope."""
    now = START
    events = []
    for number, script in enumerate(scripts):
        now += timedelta(minutes=7)
        order = Order.place(
            order_id=uuid.UUID(int=rng.getrandbits(128)),
            customer_id=f"customer-{number % 2}",
            restaurant_id="restaurant-1",
            channel_id="web",
            currency="USD",
            items=[item(price=f"{rng.randint(100, 9999) / 100:.2f}")],
            delivery=location(),
            now=now,
        )
        for action in script:
            now += timedelta(minutes=rng.randint(1, 50))
            if order.deleted_at is not None:
                break
            if action == "delete":
                order.delete(now=now, user_id="admin")
            elif action == "update" and not order.status.is_final:
                order.update(estimated_delivery_time=now + timedelta(hours=1), now=now)
            elif action in ("advance", "cancel") and order.status.allowed_next():
                options = order.status.allowed_next()
                wanted = OrderStatus.CANCELLED if action == "cancel" else options[0]
                target = wanted if wanted in options else options[0]
                order.change_status(target, user_id="staff", now=now, metadata={"n": 1.5})
        events += [event.envelope() for event in order.events]
    return events
