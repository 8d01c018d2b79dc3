from __future__ import annotations

from decimal import Decimal

import pytest

from orderline.domain.money import Money, to_amount


def test_sums_are_exact_where_floats_are_not() -> None:
    total = Money.zero("USD")
    for _ in range(10):
        total = total + Money.of("0.10", "USD")
    assert total == Money(Decimal("1.00"), "USD")
    assert sum([0.1] * 10) != 1.0  # what floats would have done


def test_times_quantity() -> None:
    assert Money.of("15.99", "USD").times(3) == Money(Decimal("47.97"), "USD")


@pytest.mark.parametrize("value", ["1.001", "0.005", "NaN", "Infinity"])
def test_refuses_more_than_cents_and_non_numbers(value: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        to_amount(value)


def test_normalises_to_two_places() -> None:
    assert str(to_amount("7")) == "7.00"
    assert str(to_amount(Decimal("7.5"))) == "7.50"


def test_refuses_mixed_currencies() -> None:
    with pytest.raises(ValueError, match="EUR"):
        Money.of("1", "USD") + Money.of("1", "EUR")
