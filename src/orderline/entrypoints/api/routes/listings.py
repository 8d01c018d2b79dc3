"""Orders of one customer or restaurant (DynamoDB GSIs) and the status counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from orderline.domain.access import Actor, Scope
from orderline.domain.status import OrderStatus
from orderline.readmodel.listings import Party
from orderline.readmodel.views import OrderViews

from ..contract import ID_PATTERN, DateTimeIn
from ..costs import CostDep
from ..deps import ActorDep, ViewsDep
from ..errors import ApiError
from ..paging import ListingCursor, PageSize, Paging, PagingDep
from ..responses import JSONResponse
from ..schemas import StatusCountsOut, StatusPageOut, problem_responses

router = APIRouter(prefix="/api", tags=["queries"])
PROBLEMS = problem_responses(400, 401, 403, 404, 422, 429, 503)
FromTime = Annotated[
    DateTimeIn,
    Query(
        alias="from",
        description="Start (inclusive, rounded down to the hour), an RFC 3339 date-time with "
        "its offset. Default: 24 hours before `to`. Before `to`, at most 31 days before it "
        "(else 422).",
    ),
]
ToTime = Annotated[
    DateTimeIn,
    Query(
        description="End (exclusive, rounded up to the hour), an RFC 3339 date-time with its "
        "offset. Default: now."
    ),
]
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
        views: ViewsDep,
        paging: PagingDep,
        actor: ActorDep,
        status: OrderStatus | None = None,
        limit: PageSize = 20,
        cursor: ListingCursor = None,
    ) -> JSONResponse:
        _check_party(actor, party, party_id)
        return await _listing(party, party_id, views, paging, status, limit, cursor)

    listing.__doc__ = (
        f"Most recently changed first ({index}); `status` filters. A {party} lists only its "
        "own orders (another's answers 404); orders:admin lists any."
    )
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


def _check_party(actor: Actor, party: Party, party_id: str) -> None:
    """The listing is the key condition of the index query: only one's own key may be asked."""
    ownership = actor.ownership()
    own = ownership.customer_id if party == "customer" else ownership.restaurant_id
    if ownership.everything or own == party_id:
        return
    raise ApiError(404, "Not found", f"no {party} {party_id} among the orders you may see")


async def _listing(
    party: Party,
    party_id: str,
    views: OrderViews,
    paging: Paging,
    status: OrderStatus | None,
    limit: int,
    cursor: str | None,
) -> JSONResponse:
    query = f"{party}|{party_id}|{status}"
    after = paging.position(query, cursor, lambda position: position)
    page = await views.by_party(
        party,
        party_id,
        limit=paging.size(limit),
        status=status.value if status else None,
        after=after,
    )
    next_cursor = paging.next_cursor(query, page.next_key)
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
    views: ViewsDep,
    actor: ActorDep,
    cost: CostDep,
    from_: FromTime = None,
    to: ToTime = None,
) -> JSONResponse:
    """From the sharded hourly counters; the range is at most 31 days. Needs analytics:read.
    A range not cached costs its DynamoDB queries (28) of the rate limit, checked before."""
    actor.check_scope(Scope.ANALYTICS_READ)
    start, end = _range(from_, to)
    cost.before(views.status_counts_cost(start, end) - 1)
    counts = await views.status_counts(start, end)
    return JSONResponse(counts, headers={"X-Read-Source": "dynamodb"})


@router.get(
    "/restaurants/{restaurant_id}/status-counts",
    response_model=StatusCountsOut,
    responses=PROBLEMS,
    summary="One restaurant's entries into each status per hour, and its orders in each now",
)
async def restaurant_status_counts(
    views: ViewsDep,
    actor: ActorDep,
    cost: CostDep,
    restaurant_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)],
    from_: FromTime = None,
    to: ToTime = None,
) -> JSONResponse:
    """The restaurant's own counters (its staff, or analytics:read); at most 31 days. A range
    not cached costs its DynamoDB queries (28) of the rate limit, checked before."""
    if Scope.ANALYTICS_READ not in actor.scopes:
        _check_party(actor, "restaurant", restaurant_id)
    start, end = _range(from_, to)
    cost.before(views.status_counts_cost(start, end, restaurant_id) - 1)
    counts = await views.status_counts(start, end, restaurant_id)
    return JSONResponse(counts, headers={"X-Read-Source": "dynamodb"})


def _range(from_: datetime | None, to: datetime | None) -> tuple[datetime, datetime]:
    end = _ceil_hour(_aware(to, "to") if to else datetime.now(UTC))
    start = _floor_hour(_aware(from_, "from")) if from_ else end - DEFAULT_RANGE
    if start >= end:
        raise _invalid_range("from", "`from` must be before `to`")
    if end - start > MAX_RANGE:
        raise _invalid_range("to", f"the range is at most {MAX_RANGE.days} days")
    return start, end


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
