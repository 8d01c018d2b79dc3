"""Domain errors: what went wrong, in the language of orders. Entry points map them to HTTP."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base class of every error the domain and the service layer raise on purpose."""


class OrderNotFound(DomainError):
    def __init__(self, order_id: object) -> None:
        super().__init__(f"order {order_id} does not exist")
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
    def __init__(self, status: str, fields: Sequence[str]) -> None:
        super().__init__(f"{', '.join(fields)} cannot be changed while the order is {status}")
        self.status = status
        self.fields = list(fields)


class VersionConflict(DomainError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"order is at version {actual}, not the expected version {expected}")
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")
        self.key = key


class InvalidOrder(DomainError):
    """An order that breaks an invariant the domain owns (e.g. no items)."""
