"""Fan-out that stays out of the way: a change is encoded once for all its subscribers, and a
stream costs no task or timer of its own (one ticker sends every heartbeat)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from orderline.domain.access import EVERYTHING
from orderline.domain.status import OrderStatus as S
from orderline.entrypoints.api.sse import HEARTBEAT, LiveStream
from orderline.live.changes import Topic
from orderline.live.hub import Hub, LivePolicy
from orderline.live.subscription import Subscription
from orderline.live.ticker import Ticker
from orderline.workers.runner import in_background

from ..helpers.fakes import FakeChangeFeed, FakeUnitOfWork
from ..helpers.orders import move_in, place_in


class Client:
    """One SSE client, in process: what the stream sent it, and a way to leave."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gone = asyncio.Event()
        self._asked = False

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            self.bodies.append(message["body"])

    def changes(self) -> list[bytes]:
        return [body for body in self.bodies if b"event: change" in body]


@asynccontextmanager
async def running_hub(uow: FakeUnitOfWork, **policy: Any) -> AsyncIterator[Hub]:
    hub = Hub(FakeChangeFeed(uow), LivePolicy(**{"poll_seconds": 60.0, **policy}))
    async with in_background([hub.run]):
        await hub.ready.wait()
        yield hub


Streams = tuple[list[Client], list[asyncio.Task[None]]]


def open_streams(hub: Hub, topic: Topic, count: int) -> Streams:
    """`count` streams of `topic`, each run by one task (as a server runs a request)."""
    clients = [Client() for _ in range(count)]
    tasks = []
    for n, client in enumerate(clients):
        stream = LiveStream(hub, hub.subscribe(topic, f"principal-{n}"), None)
        tasks.append(asyncio.create_task(stream({"type": "http"}, client.receive, client.send)))
    return clients, tasks


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def leave(clients: list[Client], tasks: list[asyncio.Task[None]], hub: Hub) -> None:
    for client in clients:
        client.gone.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert hub.subscribers == 0  # each stream noticed its client leave, without a watcher


async def test_a_change_to_many_subscribers_of_one_topic_is_encoded_once() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow) as hub:
        order_id = await place_in(uow)
        clients, tasks = open_streams(hub, Topic.order(order_id, EVERYTHING), 50)
        await until(lambda: all(b"event: ready" in b"".join(c.bodies) for c in clients))
        await move_in(uow, order_id, S.CONFIRMED)
        confirmed = lambda c: [f for f in c.changes() if b'"status":"CONFIRMED"' in f]  # noqa: E731
        await until(lambda: all(confirmed(client) for client in clients))
        frames = [confirmed(client)[0] for client in clients]
        assert len({id(frame) for frame in frames}) == 1  # one bytes object, written 50 times
        await leave(clients, tasks, hub)


async def test_heartbeats_come_from_one_ticker_not_a_task_or_timer_per_stream() -> None:
    uow = FakeUnitOfWork()
    async with running_hub(uow, heartbeat_seconds=0.2) as hub:
        loop = asyncio.get_running_loop()
        tasks_before = len(asyncio.all_tasks())
        clients, tasks = open_streams(hub, Topic(EVERYTHING), 100)
        await until(lambda: all(client.bodies for client in clients))  # all opened and idle
        await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) - tasks_before == len(tasks)  # the streams' own only
        assert len(loop._scheduled) < 10  # type: ignore[attr-defined]  # no timer per stream
        started = time.monotonic()
        await until(lambda: all(HEARTBEAT in client.bodies for client in clients), seconds=2)
        assert time.monotonic() - started < 1.0
        await leave(clients, tasks, hub)


async def test_the_ticker_ends_a_stream_at_its_deadline_and_lets_ended_ones_go() -> None:
    ticker = Ticker(heartbeat=10.0, tick=0.1)
    due, later, gone = (Subscription(Topic(EVERYTHING), "p", 8, 0) for _ in range(3))
    due.ending_at(0.2, "expired")
    later.ending_at(60.0, "lifetime")
    for sub in (due, later, gone):
        ticker.watch(sub)
    gone.end("disconnected")
    ticker.advance(time.monotonic() + 0.5)
    assert (due.ended, later.ended) == ("expired", None)
    ticker.advance(time.monotonic() + 10.5)  # a heartbeat interval: `later` is asked for one
    assert await later.next() is None and later.ended is None  # None: a heartbeat
    assert ticker.watched == 1  # only `later`: the ended ones dropped out
