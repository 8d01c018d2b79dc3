"""The peer of `bench/live.py`: a minimal broadcast server built on `sse-starlette`.

What a Python user writes with the library Python users reach for: a Starlette app, one
`asyncio.Queue` per subscriber, an `EventSourceResponse` over an async generator (the library's
own ping every 15 s and its own disconnect handling). It serves the same three paths as
`orderline serve` (`/api/orders/{id}/events`, `/api/restaurants/{id}/events`, `/api/events`),
without authentication (the bench runs ours with `ORDERLINE_AUTH=false` too).

Fed the same changes as ours, the same way: it LISTENs on the channel the API NOTIFYs on at
each commit and, on each notification, reads the outbox rows after the last id it saw (by id,
the simple way: it does not wait for older open transactions as ours does). The event's data
carries the same fields as ours (the order's status view, `occurredAt`), JSON-encoded once per
change; sse-starlette encodes the SSE frame for each subscriber it writes to.

`python -m bench.live_peer PORT DATABASE_URL`; `GET /ready` answers 200 once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orderline.readmodel.documents import status_view

CHANNEL = "orderline_outbox"  # the API's default NOTIFY channel
QUEUE_SIZE = 256  # as ours: a subscriber that falls this far behind is dropped


class Broadcast:
    """Subscribers' queues by topic; the outbox follower publishes to them."""

    def __init__(self) -> None:
        self.topics: dict[str, set[asyncio.Queue[ServerSentEvent]]] = defaultdict(set)
        self.listening = False

    def publish(self, row: Any) -> None:
        envelope = json.loads(row["payload"])
        order = envelope["payload"]["order"]
        data = json.dumps(
            {
                "eventId": str(row["id"]),
                "eventType": envelope["eventType"],
                "orderId": order["id"],
                "version": envelope["version"],
                "occurredAt": envelope["occurredAt"],
                "status": status_view(order),
            },
            separators=(",", ":"),
        )
        event = ServerSentEvent(data=data, event="change", id=str(row["id"]))
        keys = (f"order:{order['id']}", f"restaurant:{order.get('restaurantId')}", "all")
        for key in keys:
            for queue in list(self.topics.get(key, ())):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.topics[key].discard(queue)  # too slow: its stream ends

    async def follow(self, url: str) -> None:
        """LISTEN; on each notification read the outbox after the last id seen."""
        reader, listener = await asyncpg.connect(url), await asyncpg.connect(url)
        last = await reader.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        woken = asyncio.Event()
        await listener.add_listener(CHANNEL, lambda *_: woken.set())
        self.listening = True
        while True:
            await woken.wait()
            woken.clear()
            rows = await reader.fetch(
                "SELECT id, payload::text AS payload FROM outbox WHERE id > $1 ORDER BY id "
                "LIMIT 500",
                last,
            )
            for row in rows:
                self.publish(row)
                last = row["id"]
            if len(rows) == 500:
                woken.set()


BROADCAST = Broadcast()


async def events(key: str) -> AsyncIterator[ServerSentEvent]:
    queue: asyncio.Queue[ServerSentEvent] = asyncio.Queue(QUEUE_SIZE)
    BROADCAST.topics[key].add(queue)
    try:
        yield ServerSentEvent(data="{}", event="ready")
        while True:
            yield await queue.get()
    finally:
        BROADCAST.topics[key].discard(queue)
        if not BROADCAST.topics[key]:
            del BROADCAST.topics[key]


def stream(key: str) -> Response:
    return EventSourceResponse(events(key), ping=15)


async def order_events(request: Request) -> Response:
    return stream(f"order:{request.path_params['order_id']}")


async def restaurant_events(request: Request) -> Response:
    return stream(f"restaurant:{request.path_params['restaurant_id']}")


async def all_events(_: Request) -> Response:
    return stream("all")


async def ready(_: Request) -> Response:
    return PlainTextResponse("ok", status_code=200 if BROADCAST.listening else 503)


def app(url: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        following = asyncio.create_task(BROADCAST.follow(url))
        yield
        following.cancel()

    routes = [
        Route("/api/orders/{order_id}/events", order_events),
        Route("/api/restaurants/{restaurant_id}/events", restaurant_events),
        Route("/api/events", all_events),
        Route("/ready", ready),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    port, url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(app(url), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
