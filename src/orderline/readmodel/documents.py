"""The read model's shapes: API documents <-> DynamoDB items (plain values; codec does the rest)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orderline.adapters.dynamodb.codec import Item
from orderline.domain.order import Document

CENT = Decimal("0.01")

STATUS_FIELDS = (
    "customerId",
    "restaurantId",
    "channelId",
    "status",
    "statusId",
    "currency",
    "estimatedDeliveryTime",
    "trackingCode",
    "createdAt",
    "updatedAt",
    "version",
)


@dataclass(frozen=True)
class Expiry:
    """How long read-model items live (DESIGN §6): `ttl` is epoch seconds."""

    status_hours: int = 72
    history_days: int = 365

    def status_ttl(self, moment: datetime) -> int:
        return epoch(moment + timedelta(hours=self.status_hours))

    def history_ttl(self, moment: datetime) -> int:
        return epoch(moment + timedelta(days=self.history_days))


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def amount_text(value: Any) -> str:
    """Money from DynamoDB (a Decimal, maybe normalised to `12.5`) back to `12.50`."""
    return str(Decimal(value).quantize(CENT))


def status_view(order: Document) -> Document:
    """The `GET /api/orders/{id}/status` document, from a full order document."""
    view: Document = {"orderId": order["id"]}
    view.update({name: order.get(name) for name in STATUS_FIELDS})
    view["totalAmount"] = order["totalAmount"]
    return view


def is_live(item: Item | None, now: datetime) -> bool:
    """Present and not past its `ttl` (DynamoDB deletes expired items lazily)."""
    return item is not None and int(item.get("ttl", 0)) > epoch(now)


def is_tombstone(item: Item) -> bool:
    return bool(item.get("deleted"))


def status_item(order: Document, ttl: int) -> Item:
    item = status_view(order)
    item["totalAmount"] = Decimal(order["totalAmount"])
    item["ttl"] = ttl
    return item


def status_from_item(item: Item) -> Document:
    view: Document = {"orderId": item["orderId"]}
    view.update({name: item.get(name) for name in STATUS_FIELDS})
    view["totalAmount"] = amount_text(item["totalAmount"])
    view["version"] = int(item["version"])
    view["statusId"] = int(item["statusId"])
    return view


def details_item(order: Document, ttl: int) -> Item:
    """The whole order document, stored as JSON text: exact, and one attribute to sign and parse."""
    return {
        "orderId": order["id"],
        "version": order["version"],
        "document": json.dumps(order, separators=(",", ":"), sort_keys=True),
        "ttl": ttl,
    }


def details_from_item(item: Item) -> Document:
    document: Document = json.loads(item["document"])
    return document


def tombstone(order_id: str, version: int, updated_at: str, ttl: int) -> Item:
    """What a deleted order leaves, so that an older event cannot bring it back."""
    return {
        "orderId": order_id,
        "version": version,
        "deleted": True,
        "updatedAt": updated_at,
        "ttl": ttl,
    }


HISTORY_FIELDS = (
    "version",
    "eventId",
    "eventType",
    "status",
    "statusId",
    "previousStatus",
    "previousStatusId",
    "userId",
    "reason",
    "metadata",
    "changedFields",
    "totalAmount",
    "timestamp",
)


def history_view(entry: Document) -> Document:
    """One history entry for the API, whether it came from DynamoDB or from the outbox."""
    view: Document = {name: entry.get(name) for name in HISTORY_FIELDS}
    for name in ("version", "statusId", "previousStatusId"):
        if view[name] is not None:
            view[name] = int(view[name])
    view["totalAmount"] = amount_text(view["totalAmount"])
    view["metadata"] = jsonable(view["metadata"])
    return view


def jsonable(value: Any) -> Any:
    """DynamoDB numbers (Decimal) inside free-form data back to JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [jsonable(inner) for inner in value]
    return value
