"""Paging, the one way every listing does it (orders, a party's orders, history, the forum).

A page answers `{"items": [...], "nextCursor": ...}`; the client sends `nextCursor` back as
`cursor`, a signed token bound to the query it came from (`cursors.CursorCodec`), and asks a
`limit` that the server caps at `ORDERLINE_MAX_PAGE_SIZE`. Each listing declares its cursor's
longest form: an order position is small, a DynamoDB key larger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from .contract import CURSOR, CURSOR_PATTERN
from .cursors import CursorCodec, InvalidCursor
from .errors import ApiError

T = TypeVar("T")
CURSOR_DESCRIPTION = "`nextCursor` of the previous page, as it came (signed; another is 400)."

PageSize = Annotated[int, Query(ge=1, le=1000, description="Page size (capped by the server).")]
# `cursor` of the order listing and of an order's history (a PostgreSQL position).
OrderCursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description=CURSOR_DESCRIPTION,
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]
# `cursor` of a customer's or restaurant's orders (a DynamoDB index key).
ListingCursor = Annotated[
    str | None,
    Query(
        max_length=1024,
        description=CURSOR_DESCRIPTION,
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]
# `cursor` of the forum's listings: also a DynamoDB index key, so the same form.
ForumCursor = ListingCursor


@dataclass(frozen=True)
class Paging:
    """The cursor codec and the server's largest page, shared by every listing."""

    cursors: CursorCodec
    max_page_size: int

    def size(self, limit: int) -> int:
        """The page size to ask for: the client's `limit`, capped by the server."""
        return min(limit, self.max_page_size)

    def position(
        self, query: str, cursor: str | None, read: Callable[[dict[str, Any]], T]
    ) -> T | None:
        """Where the page starts: the cursor's position turned by `read` (None: the first page);
        any flaw in the cursor is a 400 problem."""
        if cursor is None:
            return None
        if not CURSOR.fullmatch(cursor):
            raise ApiError(
                400, "Invalid cursor", "cursor is malformed; pass `nextCursor` as it came"
            )
        try:
            return read(self.cursors.decode(query, cursor))
        except (InvalidCursor, KeyError, ValueError, TypeError) as exc:
            raise ApiError(400, "Invalid cursor", str(exc) or "cursor is malformed") from exc

    def next_cursor(self, query: str, position: dict[str, Any] | None) -> str | None:
        """The `nextCursor` of a page that ends at `position` (None: the last page)."""
        return self.cursors.encode(query, position) if position else None


async def get_paging(request: Request) -> Paging:
    paging: Paging = request.app.state.paging
    return paging


PagingDep = Annotated[Paging, Depends(get_paging)]
