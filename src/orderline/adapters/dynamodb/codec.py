"""Plain Python values <-> DynamoDB attribute values, for the low-level client.

Numbers travel as Decimal (exact); floats are converted through their shortest repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

Item = dict[str, Any]
# The same item in DynamoDB's attribute-value JSON ({"name": {"S": "..."}}): wire and streams form.
AttributeItem = dict[str, Any]
"""A DynamoDB item as plain Python values (what `from_item` returns and `to_item` takes); the
low-level client's attribute-value form is a plain `dict[str, Any]`."""


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, Mapping):
        return {"M": {key: to_attribute(inner) for key, inner in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(inner) for inner in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    (kind, value), *_ = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() and "." not in value else number
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return from_item(value)
    if kind == "L":
        return [from_attribute(inner) for inner in value]
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_item(values: Mapping[str, Any]) -> AttributeItem:
    """An item to store; None values are left out rather than stored as NULL."""
    return {key: to_attribute(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> Item:
    return {key: from_attribute(value) for key, value in item.items()}
