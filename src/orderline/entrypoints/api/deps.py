"""Request-scoped access to the container, and parsing of the headers the API honours.

Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
thread, a hop that cost more than the whole cached read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request

from orderline.bootstrap import Container

from .cursors import CursorCodec, InvalidCursor
from .errors import ApiError

T = TypeVar("T")
_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_cursors(request: Request) -> CursorCodec:
    codec: CursorCodec = request.app.state.cursors
    return codec


ContainerDep = Annotated[Container, Depends(get_container)]
CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The order version you last saw, as its ETag: `"3"`. Stale → 412.'),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    found = _ETAG.match(if_match.strip())
    if found is None:
        raise ApiError(
            400,
            "Invalid If-Match header",
            f'If-Match must be an ETag this API issued, like "3"; got {if_match!r}',
        )
    return int(found.group(1))


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (≤ 255 printable ASCII). A retry with the same key "
            "and body returns the first response; another body gets 422.",
        ),
    ] = None,
) -> str | None:
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400,
            "Invalid Idempotency-Key header",
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
        )
    return key


ExpectedVersion = Annotated[int | None, Depends(expected_version)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def decode_cursor(
    cursors: CursorCodec, query: str, cursor: str, read: Callable[[dict[str, Any]], T]
) -> T:
    """The position a cursor holds, turned by `read`; any flaw in it is a 400 problem."""
    try:
        return read(cursors.decode(query, cursor))
    except (InvalidCursor, KeyError, ValueError, TypeError) as exc:
        raise ApiError(400, "Invalid cursor", str(exc) or "cursor is malformed") from exc


def etag(version: int) -> str:
    return f'"{version}"'
