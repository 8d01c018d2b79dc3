"""Order endpoints: parse, call a handler or a query, answer."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from orderline.adapters.postgres.queries import OrderFilters, Position
from orderline.domain.errors import OrderNotFound
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands

from ..cursors import InvalidCursor
from ..deps import ContainerDep, CursorsDep, ExpectedVersion, IdempotencyKey, etag
from ..errors import ApiError
from ..schemas import (
    ID_PATTERN,
    ChangeStatusIn,
    OrderOut,
    OrderPageOut,
    PlaceOrderIn,
    Problem,
    UpdateOrderIn,
)

router = APIRouter(prefix="/api/orders", tags=["orders"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 404, 409, 412, 413, 422, 503)
}
FilterId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID_PATTERN)]


def _order_response(document: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        document, status_code=status_code, headers={"ETag": etag(document["version"])}
    )


@router.post(
    "", status_code=201, response_model=OrderOut, responses=PROBLEMS, summary="Place an order"
)
async def place_order(
    body: PlaceOrderIn, request: Request, container: ContainerDep, key: IdempotencyKey
) -> JSONResponse:
    """Totals are computed by the server. Send `Idempotency-Key` to make retries safe."""
    request_hash = hashlib.sha256(body.fingerprint().encode()).hexdigest()
    placed = await container.bus.handle(body.to_command(key, request_hash))
    response = _order_response(placed.document, 201)
    response.headers["Location"] = str(request.url_for("get_order", order_id=placed.document["id"]))
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("", response_model=OrderPageOut, responses=PROBLEMS, summary="List orders")
async def list_orders(
    container: ContainerDep,
    cursors: CursorsDep,
    customerId: FilterId = None,
    restaurantId: FilterId = None,
    status: OrderStatus | None = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Page size (capped by the server).")
    ] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JSONResponse:
    """Newest first. Follow `nextCursor` to page; a cursor is valid only for the same filters."""
    filters = OrderFilters(customerId, restaurantId, status.value if status else None)
    query = f"orders|{filters.customer_id}|{filters.restaurant_id}|{filters.status}"
    after = None
    if cursor is not None:
        try:
            position = cursors.decode(query, cursor)
            after = Position(datetime.fromisoformat(position["t"]), UUID(position["i"]))
        except (InvalidCursor, KeyError, ValueError, TypeError) as exc:
            raise ApiError(400, "Invalid cursor", str(exc) or "cursor is malformed") from exc
    page_size = min(limit, container.settings.max_page_size)
    page = await container.orders.page(filters, limit=page_size, after=after)
    next_cursor = None
    if page.next_position is not None:
        next_cursor = cursors.encode(
            query,
            {"t": page.next_position.created_at.isoformat(), "i": str(page.next_position.order_id)},
        )
    return JSONResponse({"items": page.documents, "nextCursor": next_cursor})


@router.get("/{order_id}", response_model=OrderOut, responses=PROBLEMS, summary="Get an order")
async def get_order(order_id: UUID, container: ContainerDep) -> JSONResponse:
    document = await container.orders.get(order_id)
    if document is None:
        raise OrderNotFound(order_id)
    return _order_response(document)


@router.patch(
    "/{order_id}",
    response_model=OrderOut,
    responses=PROBLEMS,
    summary="Change items, delivery address or estimated delivery time",
)
async def update_order(
    order_id: UUID, body: UpdateOrderIn, container: ContainerDep, version: ExpectedVersion
) -> JSONResponse:
    """Items and address change only while PENDING or CONFIRMED; the estimate until final."""
    command = commands.UpdateOrder(
        order_id=order_id,
        items=[item.to_line() for item in body.items] if body.items is not None else None,
        address=body.deliveryAddress.to_address() if body.deliveryAddress else None,
        estimated_delivery_time=body.estimatedDeliveryTime,
        expected_version=version,
    )
    return _order_response(await container.bus.handle(command))


@router.delete("/{order_id}", status_code=204, responses=PROBLEMS, summary="Delete an order")
async def delete_order(
    order_id: UUID,
    container: ContainerDep,
    version: ExpectedVersion,
    userId: FilterId = None,
) -> Response:
    """Soft delete: the order disappears from reads; the event log keeps its history."""
    await container.bus.handle(
        commands.DeleteOrder(order_id=order_id, user_id=userId, expected_version=version)
    )
    return Response(status_code=204)


@router.post(
    "/{order_id}/status",
    response_model=OrderOut,
    responses=PROBLEMS,
    summary="Change an order's status",
)
async def change_status(
    order_id: UUID, body: ChangeStatusIn, container: ContainerDep, version: ExpectedVersion
) -> JSONResponse:
    """409 lists the allowed next statuses; the current status again is a no-op 200."""
    result = await container.bus.handle(
        commands.ChangeStatus(
            order_id=order_id,
            status=body.status,
            user_id=body.userId,
            reason=body.reason,
            metadata=body.metadata,
            expected_version=version,
        )
    )
    response = _order_response(result.document)
    response.headers["Status-Changed"] = "true" if result.changed else "false"
    return response
