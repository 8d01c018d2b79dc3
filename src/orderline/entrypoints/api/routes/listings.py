"""Orders of one customer or restaurant (DynamoDB GSIs) and the status counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from orderline.bootstrap import Container
from orderline.domain.status import OrderStatus
from orderline.readmodel.listings import Party

from ..cursors import CursorCodec
from ..deps import ContainerDep, CursorsDep, decode_cursor
from ..errors import ApiError
from ..responses import JSONResponse
from ..schemas import ID_PATTERN, StatusCountsOut, StatusPageOut, problem_responses

router = APIRouter(prefix="/api", tags=["queries"])
PROBLEMS = problem_responses(400, 422, 503)
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (capped by the server).")]
Cursor = Annotated[str | None, Query(max_length=1024)]
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=24)
HOUR = timedelta(hours=1)
PARTIES: dict[Party, tuple[str, str]] = {  # party -> (path segment, index)
    "customer": ("customers", "CustomerStatusIndex"),
    "restaurant": ("restaurants", "RestaurantStatusIndex"),
}


def _add_listing(party: Party) -> None:
    """`GET /api/{customers|restaurants}/{id}/orders`: the same route for either party."""
    segment, index = PARTIES[party]

    async def listing(
        party_id: str,
        container: ContainerDep,
        cursors: CursorsDep,
        status: OrderStatus | None = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> JSONResponse:
        return await _listing(party, party_id, container, cursors, status, limit, cursor)

    listing.__doc__ = f"Most recently changed first ({index}); `status` filters."
    # the path names the id after the party (`customer_id`), as the OpenAPI document shows it
    listing.__annotations__["party_id"] = Annotated[
        str, Path(alias=f"{party}_id", min_length=1, max_length=64, pattern=ID_PATTERN)
    ]
    router.add_api_route(
        f"/{segment}/{{{party}_id}}/orders",
        listing,
        methods=["GET"],
        name=f"{party}_orders",
        response_model=StatusPageOut,
        responses=PROBLEMS,
        summary=f"A {party}'s orders",
    )


async def _listing(
    party: Party,
    party_id: str,
    container: Container,
    cursors: CursorCodec,
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


for _party in PARTIES:
    _add_listing(_party)


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
