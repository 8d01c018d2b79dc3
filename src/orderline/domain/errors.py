"""Domain errors: what went wrong, in the language of the domain. Entry points map them to HTTP.

Three kinds every context shares, each mapped to HTTP once: `NotFound` (404), `Forbidden` (403)
and `VersionConflict` (412). A context raises them with its own message, or its own subclass
(`OrderNotFound`, `forum.model.ForumNotFound`) when the kind needs its own words. The class
name is the `outcome` label of `orderline_commands_total`: renaming one renames a label value.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base class of every error the domain and the service layer raise on purpose."""


class NotFound(DomainError):
    """What was asked for does not exist, or is not the caller's to see; `title` names it."""

    def __init__(self, message: str, *, title: str) -> None:
        super().__init__(message)
        self.title = title


class Forbidden(DomainError):
    """The principal is known but may not do this; `scope` names what would allow it."""

    def __init__(self, message: str, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope


class VersionConflict(DomainError):
    """The version the caller last saw (If-Match) is not the current one, `actual`."""

    def __init__(self, message: str, *, expected: int, actual: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class OrderNotFound(NotFound):
    def __init__(self, order_id: object) -> None:
        super().__init__(f"order {order_id} does not exist", title="Order not found")
        self.order_id = order_id


class InvalidTransition(DomainError):
    def __init__(self, current: str, requested: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (final status)"
        super().__init__(
            f"cannot change status from {current} to {requested}; allowed next: {allowed_text}"
        )
        self.current = current
        self.requested = requested
        self.allowed = list(allowed)


class OrderNotEditable(DomainError):
    def __init__(self, status: str, fields: Sequence[str], hint: str | None = None) -> None:
        message = f"{', '.join(fields)} cannot be changed while the order is {status}"
        super().__init__(f"{message}: {hint}" if hint else message)
        self.status = status
        self.fields = list(fields)


class IdempotencyKeyReused(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")
        self.key = key


class InvalidOrder(DomainError):
    """An order that breaks an invariant the domain owns (e.g. no items)."""
