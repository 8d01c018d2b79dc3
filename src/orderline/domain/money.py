"""Exact money: Decimal amounts with two decimal places, never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def to_amount(value: Decimal | int | str) -> Decimal:
    """Parse an amount, refusing anything that is not a finite number with at most two decimals."""
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not a finite number")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_EVEN):
        raise ValueError(f"amount {value!r} has more than two decimal places")
    return amount.quantize(CENT)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, value: Decimal | int | str, currency: str) -> Money:
        return cls(to_amount(value), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal("0.00"), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money((self.amount * quantity).quantize(CENT), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
