"""The live streams' lean path (entrypoints/api/live_lean.py) answers exactly as the full stack:
a first-seen token goes through FastAPI (which verifies and caches it), the same token again is
served in front of it; both give the same statuses, problem+json bodies and headers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api.app import OrderlineApi, create_app

from ..helpers.server import RunningServer, serve_in_thread

COMPARED_HEADERS = ("content-type", "cache-control", "x-content-type-options", "retry-after")


@pytest.fixture(scope="module")
def lean(server: RunningServer) -> Iterator[tuple[RunningServer, OrderlineApi]]:
    settings = server.settings.with_overrides(live_max_subscribers_per_principal=2)
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    assert isinstance(app, OrderlineApi)
    for base_url in serve_in_thread(app):
        yield RunningServer(base_url, server.schema, settings), app


async def answer(base_url: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    async with (
        httpx.AsyncClient(base_url=base_url) as http,
        http.stream("GET", path, headers=headers) as response,
    ):
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if response.status_code == 200 and b"\n\n" in body:
                break  # the stream's opening event: enough
        return {
            "status": response.status_code,
            "headers": {name: response.headers.get(name) for name in COMPARED_HEADERS},
            "body": body if response.status_code != 200 else body.split(b"\n")[0],
        }


CASES = [
    ("a stream", Role.STAFF, {"scopes": ("orders:admin",)}, "/api/events", {}),
    ("no orders:admin", Role.CUSTOMER, {}, "/api/events", {}),
    ("another's order", Role.CUSTOMER, {}, f"/api/orders/{uuid.uuid4()}/events", {}),
    ("another restaurant", Role.RESTAURANT, {"restaurant": "r-1"}, "/api/restaurants/r-2/events",
     {}),
    ("a bad Last-Event-ID", Role.STAFF, {"scopes": ("orders:admin",)}, "/api/events",
     {"Last-Event-ID": "01"}),
    ("a malformed order id", Role.CUSTOMER, {}, "/api/orders/nope/events", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "role", "claims", "path", "extra"), CASES, ids=[c[0] for c in CASES]
)
async def test_a_known_token_is_answered_in_front_of_the_stack_as_by_it(
    lean: tuple[RunningServer, OrderlineApi],
    case: str,
    role: Role,
    claims: dict[str, Any],
    path: str,
    extra: dict[str, str],
) -> None:
    running, app = lean
    headers = running.headers(role, f"lean-{uuid.uuid4().hex[:8]}", **claims) | extra
    served = app.live_front.served
    first = await answer(running.base_url, path, headers)  # first sight: the full stack
    assert app.live_front.served == served
    again = await answer(running.base_url, path, headers)  # the cached token
    assert again == first
    in_front = case in ("a stream", "no orders:admin", "another's order", "another restaurant")
    assert app.live_front.served == served + in_front, case


async def test_the_caps_and_the_rate_limit_answer_in_front_of_the_stack_too(
    lean: tuple[RunningServer, OrderlineApi],
) -> None:
    running, app = lean
    headers = running.headers(Role.STAFF, "lean-capped", scopes=("orders:admin",))
    async with (
        httpx.AsyncClient(base_url=running.base_url, timeout=10) as http,
        http.stream("GET", "/api/events", headers=headers) as one,
        http.stream("GET", "/api/events", headers=headers) as two,
    ):
        assert one.status_code == two.status_code == 200
        served = app.live_front.served
        refused = await http.get("/api/events", headers=headers)
        assert app.live_front.served == served + 1
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert "for this principal" in refused.json()["detail"]
