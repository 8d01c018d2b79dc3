"""Commands: what a caller asks the service to do, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from orderline.domain.access import Actor
from orderline.domain.status import OrderStatus


@dataclass(frozen=True)
class ItemLine:
    item_id: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    postal_code: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Command:
    """Base of every command: who asks (the token's principal; it is recorded as the actor)."""

    actor: Actor = field(kw_only=True)


@dataclass(frozen=True)
class PlaceOrder(Command):
    customer_id: str
    restaurant_id: str
    channel_id: str
    currency: str
    items: list[ItemLine]
    address: Address
    estimated_delivery_time: datetime | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class ChangeStatus(Command):
    order_id: UUID
    status: OrderStatus
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None


@dataclass(frozen=True)
class UpdateOrder(Command):
    order_id: UUID
    items: list[ItemLine] | None = None
    address: Address | None = None
    estimated_delivery_time: datetime | None = None
    expected_version: int | None = None
    reason: str | None = None  # why: required for a correction past the owner's window

    def fields(self) -> set[str]:
        """The API names of the fields this update changes."""
        given = {
            "items": self.items,
            "deliveryAddress": self.address,
            "estimatedDeliveryTime": self.estimated_delivery_time,
        }
        return {name for name, value in given.items() if value is not None}


@dataclass(frozen=True)
class DeleteOrder(Command):
    order_id: UUID
    expected_version: int | None = None
