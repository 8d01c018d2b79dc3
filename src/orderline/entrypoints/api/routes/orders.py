"""Order endpoints: parse, call a handler or a query, answer."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from orderline.domain.access import Actor
from orderline.domain.errors import OrderNotFound
from orderline.domain.status import OrderStatus
from orderline.readmodel.ports import OrderFilters, Position
from orderline.readmodel.views import OrderViews
from orderline.service_layer import commands

from ..contract import ID_PATTERN, IDS_PATTERN, MAX_BATCH_IDS, Uuid, is_uuid
from ..costs import CostDep, RequestCost
from ..deps import ActorDep, CommandsDep, ExpectedVersion, IdempotencyKey, OrdersDep, ViewsDep
from ..errors import ApiError
from ..exact_json import ExactJsonRoute
from ..paging import OrderCursor, PageSize, PagingDep
from ..responses import JSONResponse, versioned
from ..schemas import (
    BatchStatusOut,
    ChangeStatusIn,
    HistoryOut,
    OrderOut,
    OrderPageOut,
    PlaceOrderIn,
    StatusOut,
    UpdateOrderIn,
    problem_responses,
)

# Bodies keep their numbers' literals: money sent as a JSON number is read exactly.
router = APIRouter(prefix="/api/orders", tags=["orders"], route_class=ExactJsonRoute)

PROBLEMS = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503)
FilterId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID_PATTERN)]


@router.post(
    "", status_code=201, response_model=OrderOut, responses=PROBLEMS, summary="Place an order"
)
async def place_order(
    body: PlaceOrderIn,
    request: Request,
    dispatcher: CommandsDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Totals are computed by the server. Send `Idempotency-Key` to make retries safe.
    A customer places orders only for itself (`customerId` = its subject)."""
    request_hash = hashlib.sha256(body.fingerprint().encode()).hexdigest()
    placed = await dispatcher.handle(body.to_command(actor, key, request_hash))
    response = versioned(placed.document, 201)
    response.headers["Location"] = str(request.url_for("get_order", order_id=placed.document["id"]))
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("", response_model=OrderPageOut, responses=PROBLEMS, summary="List orders")
async def list_orders(
    orders: OrdersDep,
    paging: PagingDep,
    actor: ActorDep,
    customerId: FilterId = None,
    restaurantId: FilterId = None,
    status: OrderStatus | None = None,
    limit: PageSize = 20,
    cursor: OrderCursor = None,
) -> JSONResponse:
    """Newest first. Follow `nextCursor` to page; a cursor is valid only for the same filters.
    Customers and restaurants see only their own orders, whatever the filters say."""
    filters = OrderFilters(customerId, restaurantId, status.value if status else None)
    query = filters.query_key()
    after = paging.position(query, cursor, Position.from_cursor)
    page = await orders.page(
        filters, limit=paging.size(limit), after=after, ownership=actor.ownership()
    )
    end = page.next_position.to_cursor() if page.next_position is not None else None
    return JSONResponse({"items": page.documents, "nextCursor": paging.next_cursor(query, end)})


MinVersion = Annotated[
    int | None,
    Query(
        ge=1,
        le=10**9,
        description="Read your writes: a read model older than this version falls through to "
        "PostgreSQL. A version beyond the order's own costs 10 more requests of the rate limit.",
    ),
]


async def _read(
    view: Literal["status", "details"],
    order_id: Uuid,
    views: OrderViews,
    actor: Actor,
    min_version: int | None,
    cost: RequestCost,
) -> JSONResponse:
    """One order's status or details through the read path, with the tier that answered;
    another principal's order is not found, exactly like a missing one. A `minVersion` beyond
    the order's version costs more of the rate limit (costs.py)."""
    read = await views.read(view, order_id, min_version, actor.ownership())
    if read.document is None:
        raise OrderNotFound(order_id)
    cost.min_version_read(min_version, int(read.document["version"]))
    response = versioned(read.document)
    response.headers["X-Read-Source"] = read.source
    return response


@router.get(
    "/status",
    response_model=BatchStatusOut,
    responses=PROBLEMS,
    summary="Status of up to 100 orders",
)
async def batch_status(
    views: ViewsDep,
    actor: ActorDep,
    ids: Annotated[
        str,
        Query(
            min_length=1,
            max_length=8192,
            description=f"Comma-separated order ids (UUIDs), at most {MAX_BATCH_IDS}.",
            json_schema_extra={"pattern": IDS_PATTERN},
        ),
    ],
) -> JSONResponse:
    """Cache first, then one DynamoDB BatchGetItem, then one PostgreSQL query for the rest."""
    read = await views.statuses(_parse_ids(ids), actor.ownership())
    return JSONResponse(
        {"items": read.items, "notFound": read.not_found, "sources": read.sources},
        headers={"X-Read-Source": read.source},
    )


def _parse_ids(text: str) -> list[UUID]:
    parts = [part.strip(" ") for part in text.split(",")]
    if len(parts) > MAX_BATCH_IDS:
        raise _invalid_ids(f"at most {MAX_BATCH_IDS} ids per request, got {len(parts)}")
    for position, part in enumerate(parts):
        if not is_uuid(part):
            raise _invalid_ids(f"item {position} ({part[:40]!r}) is not a UUID")
    return [UUID(part) for part in parts]


def _invalid_ids(message: str) -> ApiError:
    error = {"field": "query.ids", "message": message, "type": "value_error"}
    return ApiError(422, "Invalid request", f"query.ids: {message}", errors=[error])


@router.get("/{order_id}", response_model=OrderOut, responses=PROBLEMS, summary="Get an order")
async def get_order(
    order_id: Uuid, views: ViewsDep, actor: ActorDep, cost: CostDep, minVersion: MinVersion = None
) -> JSONResponse:
    """Read path: cache, DynamoDB, PostgreSQL; `X-Read-Source` says which one answered."""
    return await _read("details", order_id, views, actor, minVersion, cost)


@router.get(
    "/{order_id}/status",
    response_model=StatusOut,
    responses=PROBLEMS,
    summary="An order's current status",
)
async def get_status(
    order_id: Uuid, views: ViewsDep, actor: ActorDep, cost: CostDep, minVersion: MinVersion = None
) -> JSONResponse:
    """The fast read: cache, DynamoDB, PostgreSQL; `X-Read-Source` says which one answered."""
    return await _read("status", order_id, views, actor, minVersion, cost)


@router.get(
    "/{order_id}/history",
    response_model=HistoryOut,
    responses=PROBLEMS,
    summary="An order's status history",
)
async def get_history(
    order_id: Uuid,
    views: ViewsDep,
    paging: PagingDep,
    actor: ActorDep,
    limit: PageSize = 50,
    cursor: OrderCursor = None,
) -> JSONResponse:
    """Newest first: one entry per event (placed, status changed, updated, deleted). A deleted
    order's history stays readable: it is the audit trail, ending with OrderDeleted."""
    query = f"history|{order_id}"
    before = paging.position(query, cursor, lambda p: int(p["before"]))
    page = await views.history_of(
        order_id, limit=paging.size(limit), before=before, ownership=actor.ownership()
    )
    if page is None:
        raise OrderNotFound(order_id)
    end = {"before": page.next_before} if page.next_before is not None else None
    next_cursor = paging.next_cursor(query, end)
    return JSONResponse(
        {"orderId": str(order_id), "items": page.entries, "nextCursor": next_cursor},
        headers={"X-Read-Source": page.source},
    )


@router.patch(
    "/{order_id}",
    response_model=OrderOut,
    responses=PROBLEMS,
    summary="Change items, delivery address or estimated delivery time",
)
async def update_order(
    order_id: Uuid,
    body: UpdateOrderIn,
    dispatcher: CommandsDep,
    actor: ActorDep,
    version: ExpectedVersion,
) -> JSONResponse:
    """Customers change items (and so prices) while PENDING and the address while PENDING or
    CONFIRMED; restaurants the estimate until final. Past that, orders:admin corrects items or
    address until final, with a `reason` the history records (the restaurant's board shows it)."""
    command = commands.UpdateOrder(
        actor=actor,
        order_id=order_id,
        items=[item.to_line() for item in body.items] if body.items is not None else None,
        address=body.deliveryAddress.to_address() if body.deliveryAddress else None,
        estimated_delivery_time=body.estimatedDeliveryTime,
        expected_version=version,
        reason=body.reason,
    )
    return versioned((await dispatcher.handle(command)).document)


@router.delete("/{order_id}", status_code=204, responses=PROBLEMS, summary="Delete an order")
async def delete_order(
    order_id: Uuid, dispatcher: CommandsDep, actor: ActorDep, version: ExpectedVersion
) -> Response:
    """Soft delete (orders:admin): the order disappears from reads; the event log keeps its
    history."""
    await dispatcher.handle(
        commands.DeleteOrder(order_id=order_id, actor=actor, expected_version=version)
    )
    return Response(status_code=204)


@router.post(
    "/{order_id}/status",
    response_model=OrderOut,
    responses=PROBLEMS,
    summary="Change an order's status",
)
async def change_status(
    order_id: Uuid,
    body: ChangeStatusIn,
    dispatcher: CommandsDep,
    actor: ActorDep,
    version: ExpectedVersion,
) -> JSONResponse:
    """409 lists the allowed next statuses; the current status again is a no-op 200. Restaurants
    move their orders to CONFIRMED, PROCESSING, SHIPPED or CANCELLED, customers may cancel."""
    result = await dispatcher.handle(
        commands.ChangeStatus(
            actor=actor,
            order_id=order_id,
            status=body.status,
            reason=body.reason,
            metadata=body.metadata,
            expected_version=version,
        )
    )
    response = versioned(result.document)
    response.headers["Status-Changed"] = "true" if result.changed else "false"
    return response
