"""The exact forms the API accepts: one pattern each, enforced by the server and declared in the
OpenAPI document, so a generated client validates what the server validates.

Each type here takes only its documented forms: money as a decimal string or a JSON number (read
exactly, see exact_json.py), a date-time only as an RFC 3339 string with a time zone (never a
number), an order id only as a hyphenated UUID.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BeforeValidator, WithJsonSchema

from .exact_json import JsonNumber

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
MAX_PRICE = Decimal("100000")
CENTS = Decimal("0.01")
MONEY_IN_PATTERN = r"^(100000(\.0{1,2})?|[0-9]{1,5}(\.[0-9]{1,2})?)$"
MONEY_OUT_PATTERN = r"^[0-9]+\.[0-9]{2}$"
# Years 2000 to 2999: a wider range reaches the edges of what Python and PostgreSQL can hold
# once an offset is applied or an hour is rounded.
DATE_TIME_PATTERN = (
    r"^2[0-9]{3}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
ETAG_PATTERN = r'^((W/)?"[0-9]{1,9}"|\*)$'
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
# A cursor: unpadded base64url of its body (4n, 4n+2 or 4n+3 characters, at most 1000), a dot,
# and its 12-byte signature (16 characters). A cursor of this form the server did not sign is
# still refused (400): no schema can tell a signed one.
_B64 = "[A-Za-z0-9_-]"
CURSOR_PATTERN = rf"^(?:{_B64}{{4}}){{0,249}}{_B64}{{2,4}}\.{_B64}{{16}}$"
# Last-Event-ID: an event id this API sent (a position: transaction id * 10**19 + outbox id, so
# up to 40 ASCII digits, no leading zero; "²" is a digit to str.isdigit()), or empty (from now).
LAST_EVENT_ID_PATTERN = r"^(|0|[1-9][0-9]{0,39})$"
MAX_BATCH_IDS = 100
_UUID_TEXT = UUID_PATTERN[1:-1]
IDS_PATTERN = rf"^ *{_UUID_TEXT} *(, *{_UUID_TEXT} *){{0,{MAX_BATCH_IDS - 1}}}$"
# Free text: no NUL (PostgreSQL cannot store it) and at least one visible character: not a
# space as either engine counts it (`\s` of Rust's regex, which pydantic uses, holds U+0085;
# JavaScript's, which the document's patterns follow, U+FEFF), nor a control character. The
# forum's text fields use the same pattern (forum.model.TEXT_PATTERN).
TEXT_PATTERN = r"^[^\x00]*[^\s\x00-\x1f\x7f-\x9f\ufeff][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"

_MONEY = re.compile(MONEY_IN_PATTERN)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
_UUID = re.compile(UUID_PATTERN)
CURSOR = re.compile(CURSOR_PATTERN)


def parse_money(value: object) -> Decimal:
    """Money as a decimal string, or as a JSON number read exactly from its literal (never
    through a float): from 0 to 100000 with at most 2 decimals either way."""
    if isinstance(value, JsonNumber):
        value = Decimal(value.literal)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and 0 <= value <= MAX_PRICE
        and value == value.quantize(CENTS)
    ):
        return value + 0  # -0 is 0
    if isinstance(value, str) and _MONEY.fullmatch(value):
        return Decimal(value)
    raise ValueError(
        'give money as a decimal string ("15.99") or a JSON number (15.99) from 0 to 100000 '
        "with at most 2 decimals"
    )


def parse_date_time(value: object) -> datetime | None:
    """An RFC 3339 date-time with its offset; numbers and naive times are refused. None stays
    None (whether null is allowed is the field's business)."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError as exc:
            raise ValueError(f"not a valid date-time: {exc}") from None
    if isinstance(value, str) and _NAIVE.fullmatch(value):
        raise ValueError(
            "the date-time has no time zone: give its offset (timezone), e.g. 2026-11-22T10:00:00Z"
        )
    raise ValueError(
        "give an RFC 3339 date-time with its time zone offset, years 2000 to 2999, "
        "e.g. 2026-11-22T10:00:00Z"
    )


def parse_uuid(value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str) and _UUID.fullmatch(value):
        return UUID(value)
    raise ValueError(
        "give a UUID in its hyphenated form, e.g. 123e4567-e89b-12d3-a456-426614174000"
    )


def whole_number(value: object) -> object:
    """JSON does not tell 3 from 3.0: a whole float is that integer; anything else is left to
    strict integer validation (which refuses strings and booleans)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": MONEY_IN_PATTERN, "examples": ["15.99"]},
                {"type": "number", "minimum": 0, "maximum": 100000, "multipleOf": 0.01},
            ],
            "description": "A decimal string, or a JSON number read exactly as written "
            "(never rounded through a float).",
        }
    ),
]
MoneyOut = Annotated[Decimal, WithJsonSchema({"type": "string", "pattern": MONEY_OUT_PATTERN})]
DATE_TIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}
# A date-time that may be absent; the validator sits outside the `| None`, so an error names
# the field itself rather than a member of a union.
DateTimeIn = Annotated[
    datetime | None, BeforeValidator(parse_date_time), WithJsonSchema(DATE_TIME_SCHEMA)
]
NullableDateTimeIn = Annotated[
    datetime | None,
    BeforeValidator(parse_date_time),
    WithJsonSchema({"anyOf": [DATE_TIME_SCHEMA, {"type": "null"}]}),
]
Uuid = Annotated[
    UUID,
    BeforeValidator(parse_uuid),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN}),
]
