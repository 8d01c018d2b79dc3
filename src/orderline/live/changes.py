"""A committed change as subscribers see it, and what a subscription asks to see."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from orderline.domain.access import Ownership
from orderline.domain.events import Envelope
from orderline.readmodel.documents import parse_instant, status_view

CHANGE_EVENT = "change"
POSITION_BASE = 10**19  # above every bigint outbox id: a position keeps the id's digits


def position_of(xid: int, outbox_id: int) -> int:
    """A row's place in release order, (writing transaction id, outbox id), as one integer:
    the SSE event id, so `Last-Event-ID` stays a number (a plain outbox id is xid 0)."""
    return xid * POSITION_BASE + outbox_id


def split_position(position: int) -> tuple[int, int]:
    """The (xid, outbox id) a position stands for."""
    xid, outbox_id = divmod(position, POSITION_BASE)
    return xid, outbox_id


@dataclass(frozen=True)
class Change:
    """One outbox row: its id, its position (the SSE event id), the order's status view."""

    id: int
    position: int  # position_of(writing transaction, id): the order changes are released in
    order_id: str
    restaurant_id: str | None
    view: dict[str, Any]
    frame: bytes  # the SSE frame, encoded once for every subscriber
    occurred_at: float  # epoch seconds of the commit (the event's occurredAt)

    def age(self) -> float:
        return max(0.0, time.time() - self.occurred_at)

    @classmethod
    def from_row(cls, xid: int, outbox_id: int, envelope: Envelope) -> Change:
        order = envelope["payload"]["order"]
        view = status_view(order)
        data = {
            "eventId": str(outbox_id),
            "eventType": envelope["eventType"],
            "orderId": order["id"],
            "version": envelope["version"],
            "occurredAt": envelope["occurredAt"],
            "previousStatus": envelope["payload"].get("previousStatus"),
            "changedFields": envelope["payload"].get("changedFields"),  # OrderUpdated: what
            "reason": envelope["payload"].get("reason"),  # and why (a staff correction)
            "deleted": envelope["eventType"] == "OrderDeleted",
            "status": view,
        }
        position = position_of(xid, outbox_id)
        frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (
            position,
            CHANGE_EVENT.encode(),
            orjson.dumps(data),
        )
        occurred = parse_instant(envelope["occurredAt"]).timestamp()
        restaurant = order.get("restaurantId")
        return cls(outbox_id, position, order["id"], restaurant, view, frame, occurred)


@dataclass(frozen=True)
class Topic:
    """What a subscription follows: one order, one restaurant's board, or every order; always
    narrowed by the subscriber's ownership (the same rule as its reads)."""

    ownership: Ownership
    order_id: str | None = None
    restaurant_id: str | None = None

    @classmethod
    def order(cls, order_id: UUID, ownership: Ownership) -> Topic:
        return cls(ownership, order_id=str(order_id))

    @classmethod
    def restaurant(cls, restaurant_id: str, ownership: Ownership) -> Topic:
        return cls(ownership, restaurant_id=restaurant_id)

    @property
    def kind(self) -> str:
        if self.order_id is not None:
            return "order"
        return "restaurant" if self.restaurant_id is not None else "all"

    def admits(self, change: Change) -> bool:
        if self.order_id is not None and change.order_id != self.order_id:
            return False
        if self.restaurant_id is not None and change.restaurant_id != self.restaurant_id:
            return False
        return self.ownership.admits(change.view)
