"""Domain events: past tense, versioned, and serialisable to the outbox envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from .instants import to_iso

SCHEMA_VERSION = 1
Envelope = dict[str, Any]
"""An event as it travels (outbox row, bus, Kafka message): JSON-ready, DESIGN §5."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to one order, at one version of it."""

    order_id: UUID
    version: int
    occurred_at: datetime
    payload: dict[str, Any]
    event_id: UUID = field(default_factory=uuid4)
    event_type: ClassVar[str] = "Event"

    def envelope(self) -> Envelope:
        """The JSON-ready envelope written to the outbox and carried by the bus."""
        return {
            "eventId": str(self.event_id),
            "eventType": self.event_type,
            "orderId": str(self.order_id),
            "version": self.version,
            "occurredAt": to_iso(self.occurred_at),
            "schemaVersion": SCHEMA_VERSION,
            "payload": self.payload,
        }


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    event_type: ClassVar[str] = "OrderPlaced"


@dataclass(frozen=True, kw_only=True)
class OrderStatusChanged(Event):
    event_type: ClassVar[str] = "OrderStatusChanged"


@dataclass(frozen=True, kw_only=True)
class OrderUpdated(Event):
    event_type: ClassVar[str] = "OrderUpdated"


@dataclass(frozen=True, kw_only=True)
class OrderDeleted(Event):
    event_type: ClassVar[str] = "OrderDeleted"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls for cls in (OrderPlaced, OrderStatusChanged, OrderUpdated, OrderDeleted)
}
