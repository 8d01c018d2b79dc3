"""The Order aggregate: its items, its money, its place in the status lifecycle and its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from .errors import InvalidOrder, InvalidTransition, OrderNotEditable, VersionConflict
from .events import Event, OrderDeleted, OrderPlaced, OrderStatusChanged, OrderUpdated
from .instants import to_iso
from .money import Money
from .status import CONTENT_EDITABLE, OrderStatus

MAX_ITEMS = 100
Document = dict[str, Any]
"""An order, or a view of one (its status, a history entry), as JSON-ready primitives: what the
API answers, what every event carries as `order`, what the read model serves."""


@dataclass(frozen=True, slots=True)
class OrderItem:
    item_id: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def total_price(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class DeliveryLocation:
    street: str
    city: str
    postal_code: str
    latitude: float
    longitude: float


@dataclass(eq=False)
class Order:
    id: UUID
    customer_id: str
    restaurant_id: str
    channel_id: str
    currency: str
    items: list[OrderItem]
    delivery: DeliveryLocation
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    version: int
    estimated_delivery_time: datetime | None = None
    tracking_code: str | None = None
    deleted_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False)

    @classmethod
    def place(
        cls,
        *,
        order_id: UUID,
        customer_id: str,
        restaurant_id: str,
        channel_id: str,
        currency: str,
        items: list[OrderItem],
        delivery: DeliveryLocation,
        now: datetime,
        estimated_delivery_time: datetime | None = None,
    ) -> Order:
        _check_items(items, currency)
        order = cls(
            id=order_id,
            customer_id=customer_id,
            restaurant_id=restaurant_id,
            channel_id=channel_id,
            currency=currency,
            items=list(items),
            delivery=delivery,
            status=OrderStatus.PENDING,
            created_at=now,
            updated_at=now,
            version=1,
            estimated_delivery_time=estimated_delivery_time,
            tracking_code=f"TRK-{order_id.hex[:10].upper()}",
        )
        order._record(OrderPlaced, now, {})
        return order

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for item in self.items:
            total = total + item.total_price
        return total

    def expect_version(self, expected: int | None) -> None:
        """Refuse to act on a stale view of the order (If-Match)."""
        if expected is not None and expected != self.version:
            raise VersionConflict(
                f"order is at version {self.version}, not the expected version {expected}",
                expected=expected,
                actual=self.version,
            )

    def change_status(
        self,
        new: OrderStatus,
        *,
        user_id: str,
        now: datetime,
        reason: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Move to `new`; the current status again is a no-op and returns False."""
        if new == self.status:
            return False
        if not self.status.can_become(new):
            raise InvalidTransition(self.status, new, self.status.allowed_next())
        previous = self.status
        self.status = new
        self._bump(now)
        self._record(
            OrderStatusChanged,
            now,
            {
                "previousStatus": previous.value,
                "previousStatusId": previous.status_id,
                "userId": user_id,
                "reason": reason,
                "metadata": metadata or {},
            },
        )
        return True

    def update(
        self,
        *,
        now: datetime,
        items: list[OrderItem] | None = None,
        delivery: DeliveryLocation | None = None,
        estimated_delivery_time: datetime | None = None,
        user_id: str | None = None,
        reason: str | None = None,
        corrections: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Change what may change in the current status; returns the names of changed fields.
        `corrections` are the fields the caller may still correct, with a `reason`, once the
        owner's window (CONTENT_EDITABLE) has closed and until the order is final."""
        content = {"items": items, "deliveryAddress": delivery}
        self._check_editable(
            [name for name, value in content.items() if value is not None], corrections, reason
        )
        if estimated_delivery_time is not None and self.status.is_final:
            raise OrderNotEditable(self.status, ["estimatedDeliveryTime"])
        changed: list[str] = []
        if items is not None and items != self.items:
            _check_items(items, self.currency)
            self.items = list(items)
            changed.append("items")
        if delivery is not None and delivery != self.delivery:
            self.delivery = delivery
            changed.append("deliveryAddress")
        eta = estimated_delivery_time
        if eta is not None and eta != self.estimated_delivery_time:
            self.estimated_delivery_time = eta
            changed.append("estimatedDeliveryTime")
        if changed:
            self._bump(now)
            details = {"changedFields": changed, "userId": user_id, "reason": reason}
            self._record(OrderUpdated, now, details)
        return changed

    def _check_editable(
        self, asked: list[str], corrections: frozenset[str], reason: str | None
    ) -> None:
        """Content changes outside the owner's window are corrections: allowed fields only,
        before the order is final, and never without a reason."""
        late = [name for name in asked if self.status not in CONTENT_EDITABLE[name]]
        if not late:
            return
        if self.status.is_final or not set(late) <= corrections:
            raise OrderNotEditable(self.status, late)
        if not reason:
            raise OrderNotEditable(
                self.status, late, hint="a correction by orders:admin needs a reason"
            )

    def delete(self, *, now: datetime, user_id: str | None = None) -> None:
        self.deleted_at = now
        self._bump(now)
        self._record(OrderDeleted, now, {"userId": user_id})

    def snapshot(self) -> Document:
        """The whole order as JSON-ready primitives: the API document and every event's `order`."""
        return {
            "id": str(self.id),
            "customerId": self.customer_id,
            "restaurantId": self.restaurant_id,
            "channelId": self.channel_id,
            "status": self.status.value,
            "statusId": self.status.status_id,
            "items": [_item_document(item) for item in self.items],
            "totalAmount": str(self.total.amount),
            "currency": self.currency,
            "deliveryAddress": {
                "street": self.delivery.street,
                "city": self.delivery.city,
                "postalCode": self.delivery.postal_code,
                "latitude": self.delivery.latitude,
                "longitude": self.delivery.longitude,
            },
            "estimatedDeliveryTime": _iso(self.estimated_delivery_time),
            "trackingCode": self.tracking_code,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "deletedAt": _iso(self.deleted_at),
            "version": self.version,
        }

    def _bump(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now

    def _record(self, kind: type[Event], now: datetime, details: dict[str, Any]) -> None:
        payload = {**details, "order": self.snapshot()}
        self.events.append(
            kind(order_id=self.id, version=self.version, occurred_at=now, payload=payload)
        )


def _check_items(items: list[OrderItem], currency: str) -> None:
    if not items:
        raise InvalidOrder("an order needs at least one item")
    if len(items) > MAX_ITEMS:
        raise InvalidOrder(f"an order holds at most {MAX_ITEMS} items, got {len(items)}")
    for item in items:
        if item.quantity < 1:
            raise InvalidOrder(f"item {item.item_id!r} has quantity {item.quantity}, below 1")
        if item.unit_price.currency != currency:
            raise InvalidOrder(f"item {item.item_id!r} is priced in {item.unit_price.currency}")


def _item_document(item: OrderItem) -> dict[str, Any]:
    return {
        "itemId": item.item_id,
        "name": item.name,
        "quantity": item.quantity,
        "unitPrice": str(item.unit_price.amount),
        "totalPrice": str(item.total_price.amount),
    }


def _iso(moment: datetime | None) -> str | None:
    return to_iso(moment) if moment is not None else None
