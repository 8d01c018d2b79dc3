"""Request bodies parsed so that a JSON number's literal survives: money sent as a number
(`"unitPrice": 15.99`, as seed 001 does) is read from its text as a Decimal, never through a float.

Every number with a fraction or an exponent becomes a `JsonNumber`: a float to every field that
wants a float, carrying the literal it was parsed from for `contract.parse_money`. Bodies nested
too deeply for the parser, or with an integer longer than Python converts, are malformed JSON
(400), never a 500. Free-form JSON in a body is checked by `free_form`, without recursion.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

MAX_INTEGER_DIGITS = 4000  # below Python's int conversion limit (4300 digits)


class JsonNumber(float):
    """A JSON number with a fraction or an exponent, and the literal it was written as."""

    __slots__ = ("literal",)
    literal: str

    def __new__(cls, literal: str) -> JsonNumber:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def loads(body: bytes | str) -> Any:
    """The body as JSON, numbers with their literals; any failure is a JSONDecodeError."""
    try:
        return json.loads(body, parse_float=JsonNumber, parse_int=_integer)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("the body is nested too deeply", "", 0) from None
    except ValueError as exc:
        raise json.JSONDecodeError(f"not a number this API reads ({exc})", "", 0) from None


def free_form(value: Any, *, max_bytes: int, max_depth: int) -> Any:
    """Free-form JSON (e.g. a status change's metadata) checked without recursion: its size
    (serialised, counted as it is walked, so an oversized value stops early), its depth and no
    NUL (PostgreSQL cannot store it). Returns a copy with plain floats (what is stored and sent).
    Raises ValueError naming the limit."""
    size = 0
    root: list[Any] = [None]
    stack: list[tuple[Any, list[Any] | dict[str, Any], Any, int]] = [(value, root, 0, 0)]
    while stack:
        item, parent, slot, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"must be nested at most {max_depth} levels deep")
        copied, children, text = _shallow(item)
        size += len(text) + 2 * len(children)  # "key": / separators, roughly
        if size > max_bytes:
            raise ValueError(f"must serialise to at most {max_bytes} bytes")
        parent[slot] = copied
        stack.extend((child, copied, key, depth + 1) for key, child in children)
    return root[0]


def _shallow(item: Any) -> tuple[Any, list[tuple[Any, Any]], str]:
    """One node: its empty copy (or the value), its children (slot, value), its own text."""
    if isinstance(item, dict):
        for key in item:
            _no_nul(key)
        return (
            dict.fromkeys(item),
            [(key, child) for key, child in item.items()],
            "{}" + "".join(json.dumps(key) for key in item),
        )
    if isinstance(item, list):
        return [None] * len(item), list(enumerate(item)), "[]"
    if isinstance(item, str):
        _no_nul(item)
    scalar = float(item) if isinstance(item, JsonNumber) else item
    if isinstance(scalar, float) and not math.isfinite(scalar):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    return scalar, [], json.dumps(scalar)


def _no_nul(text: str) -> None:
    if "\x00" in text:
        raise ValueError("strings cannot contain the NUL character (U+0000)")


class ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    """A route whose JSON body keeps its numbers' literals (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact
