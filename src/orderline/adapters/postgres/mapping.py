"""Rows to aggregates and back: the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.domain.status import OrderStatus

Row = Mapping[Any, Any]


def order_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "restaurant_id": order.restaurant_id,
        "channel_id": order.channel_id,
        "status": order.status.value,
        "currency": order.currency,
        "total_amount": order.total.amount,
        "street": order.delivery.street,
        "city": order.delivery.city,
        "postal_code": order.delivery.postal_code,
        "latitude": order.delivery.latitude,
        "longitude": order.delivery.longitude,
        "estimated_delivery_time": order.estimated_delivery_time,
        "tracking_code": order.tracking_code,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "deleted_at": order.deleted_at,
        "version": order.version,
    }


def item_rows(order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order.id,
            "position": position,
            "item_id": item.item_id,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.unit_price.amount,
            "total_price": item.total_price.amount,
        }
        for position, item in enumerate(order.items)
    ]


def to_order(row: Row, items: Sequence[Row]) -> Order:
    currency = row["currency"]
    return Order(
        id=row["id"],
        customer_id=row["customer_id"],
        restaurant_id=row["restaurant_id"],
        channel_id=row["channel_id"],
        currency=currency,
        items=[
            OrderItem(i["item_id"], i["name"], i["quantity"], Money.of(i["unit_price"], currency))
            for i in sorted(items, key=lambda i: i["position"])
        ],
        delivery=DeliveryLocation(
            row["street"], row["city"], row["postal_code"], row["latitude"], row["longitude"]
        ),
        status=OrderStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        estimated_delivery_time=row["estimated_delivery_time"],
        tracking_code=row["tracking_code"],
        deleted_at=row["deleted_at"],
    )


def group_items(rows: Iterable[Row]) -> dict[UUID, list[Row]]:
    grouped: dict[UUID, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row["order_id"], []).append(row)
    return grouped
