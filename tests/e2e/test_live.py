"""Live tracking through real uvicorn servers: two API apps on one schema, each with its own
LISTEN connection (A takes the writes, B serves the subscribers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from orderline import metrics
from orderline.adapters.postgres.engine import build_engine
from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app
from orderline.entrypoints.cli.server import ApiServer
from orderline.live.hub import Hub

from ..helpers.http import create
from ..helpers.server import RunningServer, serve_in_thread
from ..helpers.sse import Stream, subscribe
from ..helpers.transactions import open_transaction

B_LIMITS = {
    "live_heartbeat_seconds": 0.3,
    "live_queue_size": 8,
    "live_max_subscribers_per_principal": 3,
    "live_max_subscribers": 5,
    "live_poll_seconds": 60.0,  # so a catch-up is the reconnect's doing, not a poll's
    "live_retry_ms": 1500,
}


class Other:
    """The second API process: its server and its app (to reach its hub)."""

    def __init__(self, running: RunningServer, app: FastAPI) -> None:
        self.running = running
        self.app = app

    @property
    def hub(self) -> Hub:
        hub: Hub | None = self.app.state.container.live
        assert hub is not None
        return hub

    @property
    def url(self) -> str:
        return self.running.base_url


@pytest.fixture(scope="module")
def other(server: RunningServer) -> Iterator[Other]:
    settings = server.settings.with_overrides(**B_LIMITS)
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    for base_url in serve_in_thread(app):
        yield Other(RunningServer(base_url, server.schema, settings), app)


async def change(http: httpx.AsyncClient, order_id: str, status: str) -> None:
    response = await http.post(f"/api/orders/{order_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


async def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_change_committed_on_one_process_reaches_a_subscriber_on_another(
    server: RunningServer, other: Other, client: httpx.AsyncClient
) -> None:
    placed = await create(client, customerId="live-c1", restaurantId="live-r1")
    headers = other.running.headers(Role.CUSTOMER, "live-c1")
    async with subscribe(other.url, f"/api/orders/{placed['id']}/events", headers) as stream:
        ready = await stream.next()
        assert ready.event == "ready" and ready.retry == 1500 and ready.id is not None
        assert stream.response.headers["cache-control"] == "no-cache"
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        await change(client, placed["id"], "CONFIRMED")
        (event,) = await stream.changes(1)
        status = (await client.get(f"/api/orders/{placed['id']}/status")).json()
        assert event.data["status"] == status
        assert event.data["version"] == 2 and event.data["eventType"] == "OrderStatusChanged"
        assert event.data["previousStatus"] == "PENDING" and int(event.id or 0) > int(ready.id)


async def test_last_event_id_resumes_with_exactly_the_missed_events(
    other: Other, client: httpx.AsyncClient
) -> None:
    placed = await create(client, restaurantId="live-r2")
    order_id, headers = placed["id"], other.running.admin_headers()
    async with subscribe(other.url, f"/api/orders/{order_id}/events", headers) as stream:
        await change(client, order_id, "CONFIRMED")
        (first,) = await stream.changes(1)
    await change(client, order_id, "PROCESSING")
    await change(client, order_id, "SHIPPED")
    path = f"/api/orders/{order_id}/events"
    async with subscribe(other.url, path, headers, last_event_id=first.id) as stream:
        missed = await stream.changes(2)
        assert [event.data["status"]["status"] for event in missed] == ["PROCESSING", "SHIPPED"]
        await change(client, order_id, "DELIVERED")
        (live,) = await stream.changes(1)
        assert live.data["status"]["status"] == "DELIVERED"
        ids = [int(event.id or 0) for event in (first, *missed, live)]
        assert ids == sorted(set(ids))  # increasing, no duplicates
        extra = await _quiet(stream, 0.8)
        assert extra == [], "nothing but heartbeats after the live event"


async def test_a_late_commit_with_a_lower_id_reaches_live_and_resuming_clients(
    server: RunningServer, other: Other
) -> None:
    url = server.settings.database_url
    assert url is not None
    engine = build_engine(url.get_secret_value(), schema=server.schema, pool_size=3)
    headers = other.running.admin_headers()
    try:
        async with subscribe(other.url, "/api/events", headers) as stream:
            assert (await stream.next()).event == "ready"
            async with open_transaction(engine) as early, open_transaction(engine) as late:
                await early.take_xid()
                late_id = await late.write()  # the lower id, in the younger transaction
                early_id = await early.write()
                async with open_transaction(engine) as doomed:
                    await doomed.write()
                    await doomed.rollback()
                await early.commit()
                (first,) = await stream.changes(1)
                await late.commit()
            (second,) = await stream.changes(1)
        assert late_id < early_id
        assert [first.data["eventId"], second.data["eventId"]] == [str(early_id), str(late_id)]
        assert int(first.id or 0) < int(second.id or 0)
        # by outbox id the late commit is behind `first`: a resume from it must still get it
        async with subscribe(other.url, "/api/events", headers, first.id) as resumed:
            (again,) = await resumed.changes(1)
            assert (again.id, again.data["eventId"]) == (second.id, str(late_id))
            assert await _quiet(resumed, 0.5) == []
    finally:
        await engine.dispose()


async def _quiet(stream: Stream, seconds: float) -> list[Any]:
    """Events other than heartbeats seen within `seconds`."""
    seen: list[Any] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                event = await stream.next()
                if not event.heartbeat:
                    seen.append(event)
    return seen


async def test_a_killed_listen_connection_loses_nothing(
    server: RunningServer, other: Other, client: httpx.AsyncClient
) -> None:
    placed = [await create(client, restaurantId="live-r3") for _ in range(3)]
    headers = other.running.headers(Role.RESTAURANT, "chef-3", restaurant="live-r3")
    async with subscribe(other.url, "/api/restaurants/live-r3/events", headers) as stream:
        await stream.next()  # ready
        pid = other.hub.listener_pid
        assert pid is not None
        assert server.settings.database_url is not None
        admin = build_engine(server.settings.database_url.get_secret_value(), pool_size=1)
        async with admin.connect() as conn:
            killed = await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin.dispose()
        assert killed
        for order in placed:  # committed while B is not listening
            await change(client, order["id"], "CONFIRMED")
        events = await stream.changes(3)
        assert {event.data["orderId"] for event in events} == {order["id"] for order in placed}
        await until(lambda: other.hub.listener_pid not in (None, pid))


async def test_heartbeats_keep_an_idle_stream_alive(other: Other) -> None:
    async with subscribe(other.url, "/api/events", other.running.admin_headers()) as stream:
        assert (await stream.next()).event == "ready"
        started = time.monotonic()
        beat = await stream.next(seconds=3)
        assert beat.heartbeat and time.monotonic() - started < 2


async def test_caps_answer_429(other: Other, client: httpx.AsyncClient) -> None:
    await until(lambda: other.hub.subscribers == 0)
    placed = await create(client, customerId="live-cap")
    path = f"/api/orders/{placed['id']}/events"
    mine = other.running.headers(Role.CUSTOMER, "live-cap")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(subscribe(other.url, path, mine))
        async with httpx.AsyncClient(base_url=other.url) as http:
            refused = await http.get(path, headers=mine)
            assert refused.status_code == 429 and refused.headers["retry-after"]
            assert "for this principal" in refused.json()["detail"]
            for n in range(2):  # other principals fill the process cap (5)
                staff = other.running.headers(subject=f"cap-staff-{n}", scopes=("orders:admin",))
                await stack.enter_async_context(subscribe(other.url, "/api/events", staff))
            fresh = other.running.headers(subject="cap-staff-9", scopes=("orders:admin",))
            refused = await http.get("/api/events", headers=fresh)
            assert refused.status_code == 429 and "in this process" in refused.json()["detail"]
    await until(lambda: other.hub.subscribers == 0)


async def test_a_slow_consumer_is_cut_off_with_a_resume_event(
    other: Other, client: httpx.AsyncClient
) -> None:
    await until(lambda: other.hub.subscribers == 0)
    host, port = other.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads slowly
    sock.connect((host, int(port)))
    token = other.running.admin_headers()["Authorization"]
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode())
    cut = metrics.LIVE_DISCONNECTS.labels("slow")
    before = cut._value.get()
    placed = await create(client, restaurantId="live-slow")
    await _flood(other.running, placed["id"], 8000)  # ~6 MB: more than the socket buffers hold
    await until(lambda: cut._value.get() > before)
    received = await asyncio.to_thread(_read_all, sock)
    events = re.findall(r"^event: (\w+)$", received, re.MULTILINE)
    assert events[0] == "ready" and events[-1] == "resume" and events.count("resume") == 1
    assert set(events[1:-1]) == {"change"} and received.endswith("\r\n0\r\n\r\n")  # closed
    ids = [int(found) for found in re.findall(r"^id: (\d+)$", received, re.MULTILINE)]
    assert ids[1:-1] == sorted(set(ids[1:-1]))  # in order, no duplicates
    resume = json.loads(re.findall(r"^data: (.*)$", received, re.MULTILINE)[-1])
    assert resume["reason"] == "slow" and int(resume["lastEventId"]) == ids[-2] == ids[-1]
    assert re.findall(r"^retry: (\d+)$", received, re.MULTILINE)[-1] == "1500"
    await until(lambda: other.hub.subscribers == 0)


async def _flood(running: RunningServer, order_id: str, copies: int) -> None:
    """Commit `copies` changes at once: copies of the order's event (already published)."""
    url = running.settings.database_url
    assert url is not None
    engine = build_engine(url.get_secret_value(), schema=running.schema, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, order_id, order_version, event_type, payload, "
                "created_at, available_at, published_at, attempts) "
                "SELECT gen_random_uuid(), order_id, order_version, event_type, payload, now(), "
                "now(), now(), 0 FROM outbox, generate_series(1, :copies) "
                "WHERE order_id = :order_id"
            ),
            {"copies": copies, "order_id": order_id},
        )
        await conn.execute(text("SELECT pg_notify('orderline_outbox', '')"))
    await engine.dispose()


def _read_all(sock: socket.socket) -> str:
    sock.settimeout(15)
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    sock.close()
    return b"".join(chunks).decode(errors="replace")


async def test_shutdown_ends_streams_with_a_retry_hint(server: RunningServer) -> None:
    settings = server.settings.with_overrides(live_retry_ms=2500)
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    api = ApiServer(config, lambda: app.state.container.live.shutdown())  # as `serve` runs it
    thread = threading.Thread(target=api.run, daemon=True)
    thread.start()
    await until(lambda: api.started)
    port = api.servers[0].sockets[0].getsockname()[1]
    running = RunningServer(f"http://127.0.0.1:{port}", server.schema, settings)
    async with subscribe(running.base_url, "/api/events", running.admin_headers()) as stream:
        ready = await stream.next()
        api.should_exit = True
        final = await stream.next()
        assert final.event == "resume" and final.retry == 2500 and final.id == ready.id
        assert final.data["reason"] == "shutdown"
        with pytest.raises(EOFError):
            await stream.next()
    await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive(), "the server waited for its streams"
