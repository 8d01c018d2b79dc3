"""Live tracking: SSE streams of changes (one order, a restaurant's board, every order) and
the dashboard page. Subscriptions are authorized exactly like reads."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path as FilePath
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path
from fastapi.responses import FileResponse

from orderline import metrics
from orderline.domain.access import Actor, Scope
from orderline.domain.errors import OrderNotFound
from orderline.live.changes import Topic, split_position
from orderline.live.hub import Hub, TooManySubscribers
from orderline.readmodel.views import OrderViews

from ..contract import ID_PATTERN, LAST_EVENT_ID_PATTERN, Uuid
from ..deps import ActorDep, LiveDep, ViewsDep
from ..errors import ApiError
from ..schemas import problem_responses
from ..sse import LiveStream

router = APIRouter(tags=["live"])
PROBLEMS = problem_responses(400, 401, 403, 404, 429, 503)
STATIC = FilePath(__file__).parents[3] / "live" / "static"
READY_TIMEOUT_SECONDS = 5.0
_LAST_EVENT_ID = re.compile(LAST_EVENT_ID_PATTERN)
MAX_XID, MAX_OUTBOX_ID = 2**64 - 1, 2**63 - 1  # xid8 and bigint
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The last event id received: the stream first sends every change after it "
        "(from the outbox; at most ORDERLINE_LIVE_MAX_REPLAY_ROWS of them), then live ones, "
        "without duplicates. Another form → 400.",
        json_schema_extra={"pattern": LAST_EVENT_ID_PATTERN},
    ),
]
ABOUT = (
    " Each `change` event carries the order's status view (as `GET /api/orders/{id}/status` "
    "answers it) and its version; its `id` is the event's position. Heartbeat comments keep "
    "idle streams open; a client too slow to keep up gets a final `resume` event and is "
    "disconnected, as is every stream after ORDERLINE_LIVE_MAX_STREAM_SECONDS. A stream ends at "
    "its token's `exp` with a final `reauthenticate` event: reconnect with a fresh token and "
    "`Last-Event-ID`. A `truncated` event says a replay reached its bound: reload the state."
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
    return await open_order(order_id, views, hub, actor, last_event_id)


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
    return await open_restaurant(hub, actor, restaurant_id, last_event_id)


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
    return await open_everything(hub, actor, last_event_id)


all_events.__doc__ = "Changes of every order; needs orders:admin." + ABOUT

# The routes' work, shared with the lean path (live_lean.py) that serves the same GETs.


async def open_order(
    order_id: UUID, views: OrderViews, hub: Hub | None, actor: Actor, last_event_id: str | None
) -> LiveStream:
    ownership = actor.ownership()
    read = await views.read("status", order_id, None, ownership)
    if read.document is None:
        raise OrderNotFound(order_id)  # another's order looks missing, as on every read
    return await _open(hub, actor, Topic.order(order_id, ownership), last_event_id)


async def open_restaurant(
    hub: Hub | None, actor: Actor, restaurant_id: str, last_event_id: str | None
) -> LiveStream:
    ownership = actor.ownership()
    if not (ownership.everything or ownership.restaurant_id == restaurant_id):
        raise ApiError(404, "Not found", f"no restaurant {restaurant_id} among your orders")
    topic = Topic.restaurant(restaurant_id, ownership)
    return await _open(hub, actor, topic, last_event_id)


async def open_everything(hub: Hub | None, actor: Actor, last_event_id: str | None) -> LiveStream:
    actor.check_scope(Scope.ORDERS_ADMIN)
    return await _open(hub, actor, Topic(actor.ownership()), last_event_id)


async def _open(
    hub: Hub | None, actor: Actor, topic: Topic, last_event_id: str | None
) -> LiveStream:
    resume_after = validated_position(last_event_id)
    if hub is None or not await _ready(hub.ready):
        raise ApiError(503, "Live tracking unavailable", "the change feed is not running yet")
    try:
        sub = hub.subscribe(topic, f"{actor.role}:{actor.subject}")
    except TooManySubscribers as exc:
        metrics.LIVE_REFUSED.labels("principal" if "principal" in exc.scope else "process").inc()
        raise ApiError(
            429, "Too many subscriptions", str(exc), headers={"Retry-After": "5"}
        ) from None
    return LiveStream(hub, sub, resume_after, expires_at=actor.expires_at)


def validated_position(last_event_id: str | None) -> int | None:
    """The position a client resumes after: 1 to 40 ASCII digits, a position this API can
    send (`live.changes.position_of`), else 400."""
    if not last_event_id:  # absent or empty: from now on
        return None
    if not _LAST_EVENT_ID.fullmatch(last_event_id) or not _sendable(int(last_event_id)):
        raise ApiError(
            400,
            "Invalid Last-Event-ID header",
            "Last-Event-ID must be an event id this API sent (ASCII digits, no leading zero)",
        )
    return int(last_event_id)


def _sendable(position: int) -> bool:
    """A position this API could have sent: a transaction id and an outbox id within range."""
    xid, outbox_id = split_position(position)
    return xid <= MAX_XID and outbox_id <= MAX_OUTBOX_ID


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
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": DASHBOARD_POLICY}
    return FileResponse(STATIC / "index.html", headers=headers)


# the page loads only its own script and stylesheet and talks only to this API
DASHBOARD_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
