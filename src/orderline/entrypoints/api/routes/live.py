"""Live tracking: SSE streams of changes (one order, a restaurant's board, every order) and
the dashboard page. Subscriptions are authorized exactly like reads."""

from __future__ import annotations

import asyncio
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import FileResponse

from orderline import metrics
from orderline.domain.access import Actor, Scope
from orderline.domain.errors import OrderNotFound
from orderline.live.changes import Topic
from orderline.live.hub import Hub, TooManySubscribers

from ..contract import ID_PATTERN, Uuid
from ..deps import ActorDep, LiveDep, ViewsDep
from ..errors import ApiError
from ..schemas import problem_responses
from ..sse import LiveStream

router = APIRouter(tags=["live"])
PROBLEMS = problem_responses(400, 401, 403, 404, 429, 503)
STATIC = FilePath(__file__).parents[3] / "live" / "static"
READY_TIMEOUT_SECONDS = 5.0
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=20,
        description="The last event id received: the stream first sends every change after it "
        "(from the outbox), then live ones, without duplicates.",
    ),
]
ABOUT = (
    " Each `change` event carries the order's status view (as `GET /api/orders/{id}/status` "
    "answers it) and its version; its `id` is the event's position. Heartbeat comments keep "
    "idle streams open; a client too slow to keep up gets a final `resume` event and is "
    "disconnected."
)


@router.get(
    "/api/orders/{order_id}/events",
    summary="Follow one order live",
    response_class=LiveStream,
    status_code=200,
    responses=PROBLEMS,
)
async def order_events(
    order_id: Uuid,
    views: ViewsDep,
    hub: LiveDep,
    actor: ActorDep,
    last_event_id: LastEventId = None,
) -> LiveStream:
    ownership = actor.ownership()
    read = await views.read("status", order_id, None, ownership)
    if read.document is None:
        raise OrderNotFound(order_id)  # another's order looks missing, as on every read
    return await _open(hub, actor, Topic.order(order_id, ownership), last_event_id)


order_events.__doc__ = "Changes of one order you may read." + ABOUT


@router.get(
    "/api/restaurants/{restaurant_id}/events",
    summary="Follow a restaurant's board",
    response_class=LiveStream,
    status_code=200,
    responses=PROBLEMS,
)
async def restaurant_events(
    hub: LiveDep,
    actor: ActorDep,
    restaurant_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)],
    last_event_id: LastEventId = None,
) -> LiveStream:
    ownership = actor.ownership()
    if not (ownership.everything or ownership.restaurant_id == restaurant_id):
        raise ApiError(404, "Not found", f"no restaurant {restaurant_id} among your orders")
    topic = Topic.restaurant(restaurant_id, ownership)
    return await _open(hub, actor, topic, last_event_id)


restaurant_events.__doc__ = "Changes of a restaurant's orders (its staff, or orders:admin)." + ABOUT


@router.get(
    "/api/events",
    summary="Follow every order (orders:admin)",
    response_class=LiveStream,
    status_code=200,
    responses=PROBLEMS,
)
async def all_events(
    hub: LiveDep, actor: ActorDep, last_event_id: LastEventId = None
) -> LiveStream:
    actor.check_scope(Scope.ORDERS_ADMIN)
    return await _open(hub, actor, Topic(actor.ownership()), last_event_id)


all_events.__doc__ = "Changes of every order; needs orders:admin." + ABOUT


async def _open(
    hub: Hub | None, actor: Actor, topic: Topic, last_event_id: str | None
) -> LiveStream:
    resume_after = _position(last_event_id)
    if hub is None or not await _ready(hub.ready):
        raise ApiError(503, "Live tracking unavailable", "the change feed is not running yet")
    try:
        sub = hub.subscribe(topic, f"{actor.role}:{actor.subject}")
    except TooManySubscribers as exc:
        metrics.LIVE_REFUSED.labels("principal" if "principal" in exc.scope else "process").inc()
        raise ApiError(
            429, "Too many subscriptions", str(exc), headers={"Retry-After": "5"}
        ) from None
    return LiveStream(hub, sub, resume_after)


def _position(last_event_id: str | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return None
    if not last_event_id.strip().isdigit():
        raise ApiError(
            400, "Invalid Last-Event-ID header", "Last-Event-ID must be an event id this API sent"
        )
    return int(last_event_id.strip())


async def _ready(ready: asyncio.Event) -> bool:
    if ready.is_set():
        return True
    try:
        await asyncio.wait_for(ready.wait(), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return False
    return True


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> FileResponse:
    """The live dashboard: one static page using the public API (it asks for a token)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
