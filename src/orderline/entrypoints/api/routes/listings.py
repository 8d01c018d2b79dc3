"""Orders of one customer or restaurant (DynamoDB GSIs) and the status counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from orderline.domain.status import OrderStatus

from ..deps import ContainerDep, CursorsDep, decode_cursor
from ..errors import ApiError
from ..responses import JSONResponse
from ..schemas import ID_PATTERN, Problem, StatusCountsOut, StatusPageOut

router = APIRouter(prefix="/api", tags=["queries"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 422, 503)
}
PartyId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (capped by the server).")]
Cursor = Annotated[str | None, Query(max_length=1024)]
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=24)
HOUR = timedelta(hours=1)


@router.get(
    "/customers/{customer_id}/orders",
    response_model=StatusPageOut,
    responses=PROBLEMS,
    summary="A customer's orders",
)
async def customer_orders(
    customer_id: PartyId,
    container: ContainerDep,
    cursors: CursorsDep,
    status: OrderStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> JSONResponse:
    """Most recently changed first (CustomerStatusIndex); `status` filters."""
    return await _listing("customer", customer_id, container, cursors, status, limit, cursor)


@router.get(
    "/restaurants/{restaurant_id}/orders",
    response_model=StatusPageOut,
    responses=PROBLEMS,
    summary="A restaurant's orders",
)
async def restaurant_orders(
    restaurant_id: PartyId,
    container: ContainerDep,
    cursors: CursorsDep,
    status: OrderStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> JSONResponse:
    """Most recently changed first (RestaurantStatusIndex); `status` filters."""
    return await _listing("restaurant", restaurant_id, container, cursors, status, limit, cursor)


async def _listing(
    party: Literal["customer", "restaurant"],
    party_id: str,
    container: Any,
    cursors: Any,
    status: OrderStatus | None,
    limit: int,
    cursor: str | None,
) -> JSONResponse:
    query = f"{party}|{party_id}|{status}"
    after = None
    if cursor is not None:
        after = decode_cursor(cursors, query, cursor, lambda position: position)
    page = await container.views.by_party(
        party,
        party_id,
        limit=min(limit, container.settings.max_page_size),
        status=status.value if status else None,
        after=after,
    )
    next_cursor = cursors.encode(query, page.next_key) if page.next_key else None
    return JSONResponse(
        {"items": page.items, "nextCursor": next_cursor}, headers={"X-Read-Source": "dynamodb"}
    )


@router.get(
    "/analytics/status-counts",
    response_model=StatusCountsOut,
    responses=PROBLEMS,
    summary="Entries into each status per hour, and orders in each status now",
)
async def status_counts(
    container: ContainerDep,
    from_: Annotated[
        datetime | None,
        Query(
            alias="from",
            description="Start (inclusive, rounded down to the hour). "
            "Default: 24 hours before `to`.",
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        Query(description="End (exclusive, rounded up to the hour). Default: now."),
    ] = None,
) -> JSONResponse:
    """From the sharded hourly counters; the range is at most 31 days."""
    end = _ceil_hour(_aware(to, "to") if to else datetime.now(UTC))
    start = _floor_hour(_aware(from_, "from")) if from_ else end - DEFAULT_RANGE
    if start >= end:
        raise _invalid_range("from", "`from` must be before `to`")
    if end - start > MAX_RANGE:
        raise _invalid_range("to", f"the range is at most {MAX_RANGE.days} days")
    counts = await container.views.status_counts(start, end)
    return JSONResponse(counts, headers={"X-Read-Source": "dynamodb"})


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise _invalid_range(name, "give a time zone, e.g. 2026-11-22T10:00:00Z")
    return moment.astimezone(UTC)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _invalid_range(field: str, message: str) -> ApiError:
    error = {"field": f"query.{field}", "message": message, "type": "value_error"}
    return ApiError(422, "Invalid request", f"query.{field}: {message}", errors=[error])
