"""Who may do what with orders: principals, the orders each may see, the changes each may make.

The whole rule set is the data below; the service layer and the read side apply it inside
their queries (an order another principal owns is simply not found).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .errors import Forbidden
from .order import Document
from .status import OrderStatus


class Role(StrEnum):
    CUSTOMER = "customer"  # the subject is the customerId
    RESTAURANT = "restaurant"  # carries the restaurantId it works for
    STAFF = "staff"  # rights come from scopes
    SERVICE = "service"  # relay, projector, ops tooling calling the API


class Scope(StrEnum):
    ORDERS_ADMIN = "orders:admin"  # every order, every change
    ANALYTICS_READ = "analytics:read"  # status counts of every restaurant
    METRICS_READ = "metrics:read"  # /metrics from outside this machine
    FORUM_MODERATE = "forum:moderate"  # edit and delete any forum content, look users up by email


# The statuses each role may move one of its own orders to (admins: any). The kitchen's part of
# the lifecycle for restaurants; customers may only cancel (while the lifecycle allows it).
STATUS_CHANGES: dict[Role, frozenset[OrderStatus]] = {
    Role.CUSTOMER: frozenset({OrderStatus.CANCELLED}),
    Role.RESTAURANT: frozenset(
        {
            OrderStatus.CONFIRMED,
            OrderStatus.PROCESSING,
            OrderStatus.SHIPPED,
            OrderStatus.CANCELLED,
        }
    ),
}
# The order fields each role may change with PATCH on one of its own orders (admins: any).
EDITABLE_FIELDS: dict[Role, frozenset[str]] = {
    Role.CUSTOMER: frozenset({"items", "deliveryAddress"}),
    Role.RESTAURANT: frozenset({"estimatedDeliveryTime"}),
}

# Changes past the owner's window (status.CONTENT_EDITABLE) that a scope may still make until the
# order is final, each with a reason the history records: staff correct a dish or a price the
# restaurant already accepted (the restaurant's board shows the change).
CORRECTIONS: dict[Scope, frozenset[str]] = {
    Scope.ORDERS_ADMIN: frozenset({"items", "deliveryAddress"}),
}


@dataclass(frozen=True)
class Ownership:
    """The orders a principal may see: all (both None), a customer's or a restaurant's."""

    customer_id: str | None = None
    restaurant_id: str | None = None

    @property
    def everything(self) -> bool:
        return self.customer_id is None and self.restaurant_id is None

    def admits(self, document: Document) -> bool:
        """Whether an order (or status) document is one of the principal's orders."""
        if self.customer_id is not None and document.get("customerId") != self.customer_id:
            return False
        return self.restaurant_id is None or document.get("restaurantId") == self.restaurant_id


EVERYTHING = Ownership()


@dataclass(frozen=True)
class Actor:
    """An authenticated principal, as the domain sees it."""

    subject: str
    role: Role
    restaurant_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None  # the token's address, when its provider has not said unverified
    # when the credential it came from expires (seconds since the epoch); None: it does not
    expires_at: float | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return Scope.ORDERS_ADMIN in self.scopes

    @property
    def corrections(self) -> frozenset[str]:
        """The fields this actor may correct past the owner's window (with a reason)."""
        allowed = [fields for scope, fields in CORRECTIONS.items() if scope in self.scopes]
        return frozenset().union(*allowed)

    def ownership(self) -> Ownership:
        """The orders this actor may see; staff and services need `orders:admin`."""
        if self.is_admin:
            return EVERYTHING
        if self.role is Role.CUSTOMER:
            return Ownership(customer_id=self.subject)
        if self.role is Role.RESTAURANT and self.restaurant_id:
            return Ownership(restaurant_id=self.restaurant_id)
        raise Forbidden("reading orders needs the scope orders:admin", Scope.ORDERS_ADMIN)

    def check_places_for(self, customer_id: str) -> None:
        if self.is_admin or (self.role is Role.CUSTOMER and customer_id == self.subject):
            return
        if self.role is Role.CUSTOMER:
            raise Forbidden("a customer places orders only for itself (customerId = subject)")
        raise Forbidden("placing orders is for customers or orders:admin", Scope.ORDERS_ADMIN)

    def check_status_change(self, status: OrderStatus) -> None:
        allowed = STATUS_CHANGES.get(self.role, frozenset())
        if self.is_admin or status in allowed:
            return
        names = ", ".join(sorted(allowed)) or "none"
        raise Forbidden(
            f"a {self.role} may change an order's status to {names}, not {status}",
            Scope.ORDERS_ADMIN,
        )

    def check_edits(self, fields: set[str]) -> None:
        refused = fields - EDITABLE_FIELDS.get(self.role, frozenset())
        if self.is_admin or not refused:
            return
        raise Forbidden(
            f"a {self.role} may not change {', '.join(sorted(refused))}", Scope.ORDERS_ADMIN
        )

    def check_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this needs the scope {scope}", scope)


# What runs a command when authentication is switched off (ORDERLINE_AUTH=false).
ANONYMOUS_ADMIN = Actor(
    subject="anonymous",
    role=Role.STAFF,
    scopes=frozenset(
        {Scope.ORDERS_ADMIN, Scope.ANALYTICS_READ, Scope.METRICS_READ, Scope.FORUM_MODERATE}
    ),
)
