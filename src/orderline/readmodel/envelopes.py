"""Envelopes (`domain.events.Envelope`, the JSON dicts events travel as) parsed and checked once,
at the read side's edge, into `ParsedEnvelope`s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from orderline.domain.events import EVENT_TYPES, SCHEMA_VERSION, Envelope
from orderline.domain.order import Document
from orderline.domain.status import OrderStatus

from .documents import HISTORY_FIELDS, parse_instant

STATUS_EVENTS = frozenset({"OrderPlaced", "OrderStatusChanged"})
ORDER_FIELDS = (
    "id",
    "customerId",
    "restaurantId",
    "channelId",
    "status",
    "statusId",
    "totalAmount",
    "currency",
    "updatedAt",
    "version",
)


class InvalidEnvelope(ValueError):
    """An event the projector cannot apply; retrying will not help."""


@dataclass(frozen=True)
class ParsedEnvelope:
    """An envelope whose shape was checked; `raw` is the envelope as it came."""

    event_id: str
    event_type: str
    order_id: str
    version: int
    occurred_at: datetime
    payload: Document
    raw: Envelope

    @property
    def order(self) -> Document:
        order: Document = self.payload["order"]
        return order

    @property
    def status(self) -> str:
        return str(self.order["status"])

    @property
    def previous_status(self) -> str | None:
        previous = self.payload.get("previousStatus")
        return str(previous) if previous is not None else None

    @property
    def enters_status(self) -> bool:
        """Placing an order enters PENDING; a status change enters the new status."""
        return self.event_type in STATUS_EVENTS

    @property
    def deleted(self) -> bool:
        return self.event_type == "OrderDeleted"

    @property
    def total(self) -> Decimal:
        return Decimal(self.order["totalAmount"])

    def history_entry(self) -> Document:
        """The `order-status-log` entry of this event (without key and ttl).

        Its fields are `documents.HISTORY_FIELDS`: those not named here come from the payload.
        """
        own = {
            "version": self.version,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "status": self.order["status"],
            "statusId": self.order["statusId"],
            "totalAmount": self.total,
            "timestamp": self.raw["occurredAt"],
        }
        return {
            name: own[name] if name in own else self.payload.get(name) for name in HISTORY_FIELDS
        }


def parse(raw: Any) -> ParsedEnvelope:
    """Check an envelope's shape; InvalidEnvelope says what is wrong with it."""
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, InvalidEnvelope):
            raise
        raise InvalidEnvelope(f"malformed envelope: {type(exc).__name__}: {exc}") from exc


def _parse(raw: Any) -> ParsedEnvelope:
    if not isinstance(raw, dict):
        raise InvalidEnvelope("envelope is not an object")
    if raw.get("schemaVersion") != SCHEMA_VERSION:
        raise InvalidEnvelope(f"unsupported schemaVersion {raw.get('schemaVersion')!r}")
    if raw.get("eventType") not in EVENT_TYPES:
        raise InvalidEnvelope(f"unknown eventType {raw.get('eventType')!r}")
    payload = raw["payload"]
    order = payload["order"]
    missing = [name for name in ORDER_FIELDS if name not in order]
    if missing:
        raise InvalidEnvelope(f"payload.order lacks {', '.join(missing)}")
    parsed = ParsedEnvelope(
        event_id=str(UUID(raw["eventId"])),
        event_type=raw["eventType"],
        order_id=str(UUID(raw["orderId"])),
        version=int(raw["version"]),
        occurred_at=parse_instant(raw["occurredAt"]),
        payload=payload,
        raw=raw,
    )
    if order["id"] != parsed.order_id or order["version"] != parsed.version:
        raise InvalidEnvelope("payload.order does not match the envelope's orderId and version")
    if parsed.version < 1:
        raise InvalidEnvelope(f"version {parsed.version} is below 1")
    OrderStatus(order["status"])
    Decimal(order["totalAmount"])
    return parsed
