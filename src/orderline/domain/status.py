"""The order status lifecycle, as data: every allowed transition is listed here and nowhere else."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    PROCESSING = "PROCESSING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"

    @property
    def status_id(self) -> int:
        """The numeric id of the seeds' `order_statuses` table (statusId)."""
        return STATUS_IDS[self]

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    def allowed_next(self) -> tuple[OrderStatus, ...]:
        return TRANSITIONS[self]

    def can_become(self, new: OrderStatus) -> bool:
        return new in TRANSITIONS[self]


STATUS_IDS: dict[OrderStatus, int] = {
    OrderStatus.PENDING: 1,
    OrderStatus.CONFIRMED: 2,
    OrderStatus.PROCESSING: 3,
    OrderStatus.SHIPPED: 4,
    OrderStatus.DELIVERED: 5,
    OrderStatus.CANCELLED: 6,
}

TRANSITIONS: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.PENDING: (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    OrderStatus.CONFIRMED: (OrderStatus.PROCESSING, OrderStatus.CANCELLED),
    OrderStatus.PROCESSING: (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
    OrderStatus.SHIPPED: (OrderStatus.DELIVERED,),
    OrderStatus.DELIVERED: (),
    OrderStatus.CANCELLED: (),
}

# What the order's owner may change, and in which statuses: the items (and so the prices) only
# while PENDING, before the restaurant accepted them; the delivery address until the kitchen
# starts. Past that, only a correction (access.CORRECTIONS) with a reason changes them.
CONTENT_EDITABLE: dict[str, frozenset[OrderStatus]] = {
    "items": frozenset({OrderStatus.PENDING}),
    "deliveryAddress": frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED}),
}
