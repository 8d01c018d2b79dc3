"""Issue 21, findings 1, 7 and 9 (the replay): a stream ends when its token expires or after
the lifetime cap, Last-Event-ID is an ASCII position within bigint, and a replay is bounded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api import contract
from orderline.entrypoints.api.app import create_app

from ..helpers.http import assert_problem, create
from ..helpers.server import RunningServer, serve_in_thread
from ..helpers.sse import subscribe


@pytest.fixture(scope="module")
def bounded(server: RunningServer) -> Iterator[RunningServer]:
    """An API process with a short stream lifetime and a small replay bound."""
    settings = server.settings.with_overrides(
        live_max_stream_seconds=2, live_max_replay_rows=3, live_retry_ms=1200
    )
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    for base_url in serve_in_thread(app):
        yield RunningServer(base_url, server.schema, settings)


async def test_a_stream_ends_when_its_token_expires(server: RunningServer) -> None:
    token = server.token(Role.STAFF, "short", scopes=("orders:admin",), ttl_seconds=2)
    headers = {"Authorization": f"Bearer {token}"}
    async with subscribe(server.base_url, "/api/events", headers) as stream:
        ready = await stream.next()
        final = await stream.next(seconds=6)  # heartbeats come every 15 s: this is the end
        assert final.event == "reauthenticate" and final.id == ready.id
        assert final.data == {
            "reason": "token-expired",
            "lastEventId": ready.id,
            "retryMs": server.settings.live_retry_ms,
        }
        with pytest.raises(EOFError):
            await stream.next()


async def test_a_stream_ends_after_the_lifetime_cap(bounded: RunningServer) -> None:
    async with subscribe(bounded.base_url, "/api/events", bounded.admin_headers()) as stream:
        ready = await stream.next()
        final = await stream.next(seconds=5)
        while final.heartbeat:
            final = await stream.next(seconds=5)
        assert final.event == "resume" and final.retry == 1200 and final.id == ready.id
        assert final.data == {"reason": "lifetime", "lastEventId": ready.id, "retryMs": 1200}
        with pytest.raises(EOFError):
            await stream.next()


async def test_a_replay_is_bounded_then_the_stream_goes_live(
    bounded: RunningServer, client: httpx.AsyncClient
) -> None:
    placed = await create(client, restaurantId="bound-r1")
    for status in ("CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED"):
        response = await client.post(f"/api/orders/{placed['id']}/status", json={"status": status})
        assert response.status_code == 200, response.text
    headers = bounded.headers(Role.RESTAURANT, "chef", restaurant="bound-r1")
    path = "/api/restaurants/bound-r1/events"
    async with subscribe(bounded.base_url, path, headers, last_event_id="0") as stream:
        replayed = await stream.changes(3)
        assert [event.data["version"] for event in replayed] == [1, 2, 3]
        truncated = await stream.next()
        assert truncated.event == "truncated" and truncated.data["reason"] == "replay-limit"
        assert truncated.data["lastReplayedId"] == replayed[-1].id
        assert int(truncated.id or 0) > int(replayed[-1].id or 0)
        assert truncated.data["resumedAt"] == truncated.id
        again = await create(client, restaurantId="bound-r1")
        (live,) = await stream.changes(1)
        assert live.data["orderId"] == again["id"]


@pytest.mark.parametrize(
    "value",
    [
        b"\xb2",
        "²".encode("latin-1"),
        b"1\xb2",
        b"12a",
        b"-1",
        b"9223372036854775808",
        b"99999999999999999999",
        b"1" + b"0" * 40,  # 41 digits
        b"18446744073709551616" + b"0" * 19,  # a transaction id past xid8
        b"00000000000000000000001",
    ],
)
async def test_a_crafted_last_event_id_is_a_400_problem(
    server: RunningServer, value: bytes
) -> None:
    headers = {**server.admin_headers(), "Last-Event-ID": value}
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=5) as http,
        http.stream("GET", "/api/events", headers=headers) as response,  # type: ignore[arg-type]
    ):
        if response.status_code == 200:
            pytest.fail(f"Last-Event-ID {value!r} opened a stream")
        await response.aread()
    assert_problem(response, 400, "Last-Event-ID")


async def test_the_largest_position_is_accepted(server: RunningServer) -> None:
    headers = server.admin_headers()
    async with subscribe(server.base_url, "/api/events", headers, "9223372036854775807") as stream:
        first = await stream.next()
        assert first.retry is not None and "resuming" in first.comments


def test_the_document_declares_the_last_event_id_form(server: RunningServer) -> None:
    paths = create_app(server.settings).openapi()["paths"]
    for path in ("/api/events", "/api/restaurants/{restaurant_id}/events"):
        (header,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "Last-Event-ID"]
        assert header["schema"]["pattern"] == contract.LAST_EVENT_ID_PATTERN, header
        assert "400" in paths[path]["get"]["responses"]
