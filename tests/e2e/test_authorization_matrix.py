"""BOLA/BFLA matrix: every route × every kind of caller × own / another's / missing object.

The rows (tests/helpers/authorization.py) are checked against the app's route table: a route
without a row fails the suite, so no endpoint ships without its authorization being written
down and checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app

from ..helpers.authorization import (
    BAD,
    CUSTOMER_A,
    CUSTOMER_B,
    FORUM_ROWS,
    OPEN,
    RESTAURANT_X,
    RESTAURANT_Y,
    ROWS,
    comparable,
    reads,
    tokens,
)
from ..helpers.http import order
from ..helpers.server import RunningServer, serve_in_thread

GOOD = ("customer A", "customer B", "restaurant X", "restaurant Y", "staff")
OBJECTS = ("own", "another's", "missing")
# whose orders each principal calls "own" and "another's": (customer, restaurant)
OWNERS = {
    "customer A": ((CUSTOMER_A, RESTAURANT_X), (CUSTOMER_B, RESTAURANT_Y)),
    "customer B": ((CUSTOMER_B, RESTAURANT_Y), (CUSTOMER_A, RESTAURANT_X)),
    "restaurant X": ((CUSTOMER_A, RESTAURANT_X), (CUSTOMER_B, RESTAURANT_Y)),
    "restaurant Y": ((CUSTOMER_B, RESTAURANT_Y), (CUSTOMER_A, RESTAURANT_X)),
    "staff": ((CUSTOMER_A, RESTAURANT_X), (CUSTOMER_B, RESTAURANT_Y)),
}


@dataclass(frozen=True)
class Target:
    """The object of one case: an order and its owners (or ids that do not exist)."""

    order_id: str
    customer: str
    restaurant: str


def test_every_route_has_a_row(server: RunningServer) -> None:
    paths = create_app(server.settings).openapi()["paths"]  # every declared operation
    routes = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    rows = set(ROWS) | set(FORUM_ROWS)
    assert not set(ROWS) & set(FORUM_ROWS), "a route with two rows"
    assert routes - rows - OPEN == set(), "a route without an authorization row"
    assert rows | OPEN <= routes, "a row for a route that no longer exists"


async def place(admin: httpx.AsyncClient, customer: str, restaurant: str) -> Target:
    placed = await admin.post(
        "/api/orders", json=order(customerId=customer, restaurantId=restaurant)
    )
    assert placed.status_code == 201, placed.text
    return Target(placed.json()["id"], customer, restaurant)


async def target(
    admin: httpx.AsyncClient,
    standing: dict[tuple[str, str], Target],
    principal: str,
    obj: str,
    fresh: bool,
) -> Target:
    """The object of a case: a fresh order for a case that changes it, else a standing one."""
    if principal not in OWNERS or obj == "missing":
        return Target(str(uuid.uuid4()), f"nobody-{uuid.uuid4().hex[:6]}", "nowhere")
    owner = OWNERS[principal][0 if obj == "own" else 1]
    if fresh:
        return await place(admin, *owner)
    if owner not in standing:
        standing[owner] = await place(admin, *owner)
    return standing[owner]


@pytest.fixture(scope="module")
def standing(server: RunningServer) -> dict[tuple[str, str], Target]:
    """Orders the read-only cases share, placed once per server (and so per backend)."""
    return {}


def request_for(method: str, path: str, principal: str, t: Target) -> dict[str, Any]:
    url = (
        path.replace("{order_id}", t.order_id)
        .replace("{customer_id}", t.customer)
        .replace("{restaurant_id}", t.restaurant)
    )
    params: dict[str, str] = {}
    body: Any = None
    if path == "/api/orders" and method == "GET":
        params = {"customerId": t.customer}
    elif path == "/api/orders/status":
        params = {"ids": t.order_id}
    elif path == "/api/orders" and method == "POST":
        body = order(customerId=t.customer, restaurantId=t.restaurant)
    elif path.endswith("/status") and method == "POST":
        body = {"status": "CANCELLED" if principal.startswith("customer") else "CONFIRMED"}
    elif method == "PATCH":
        body = (
            {"deliveryAddress": order()["deliveryAddress"]}
            if principal.startswith("customer")
            else {"estimatedDeliveryTime": "2031-01-01T12:00:00Z"}
        )
    return {"method": method, "url": url, "params": params, "json": body}


async def ask(caller: httpx.AsyncClient, request: dict[str, Any]) -> httpx.Response:
    """The answer's status and headers (an event stream is closed once they are in)."""
    if not request["url"].endswith("/events"):
        return await caller.request(**request)
    response = await caller.send(
        caller.build_request(request["method"], request["url"], params=request["params"]),
        stream=True,
    )
    await response.aclose()
    return response


def visible_in(response: httpx.Response, t: Target) -> bool:
    """Whether a 200 listing or batch answer shows the target order."""
    body = response.json()
    ids = {item.get("id") or item.get("orderId") for item in body.get("items", [])}
    return t.order_id in ids


@pytest.mark.parametrize("principal", BAD + GOOD)
async def test_matrix(
    server: RunningServer,
    standing: dict[tuple[str, str], Target],
    principal: str,
    tmp_path: Any,
) -> None:
    token = tokens(server, tmp_path)[principal]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(base_url=server.base_url, headers=server.admin_headers()) as admin,
        httpx.AsyncClient(base_url=server.base_url, headers=headers) as caller,
    ):
        failures = []
        for (method, path), (expect, changes) in ROWS.items():
            answers: dict[tuple[str, int], Any] = {}  # (object, attempt) -> comparable answer
            for obj in OBJECTS:
                t = await target(admin, standing, principal, obj, fresh=changes)
                wanted = 401 if principal in BAD else expect(principal, obj)
                # twice: the first read may warm the cache, the second must not leak either
                for attempt in (1, 2) if not changes else (1,):
                    response = await ask(caller, request_for(method, path, principal, t))
                    answers[obj, attempt] = comparable(
                        response, t.order_id, t.customer, t.restaurant
                    )
                    seen = f"{method} {path} [{obj}] #{attempt}"
                    if response.status_code != wanted:
                        failures.append(f"{seen}: {response.status_code}, wanted {wanted}")
                    elif wanted == 401:
                        assert response.headers["www-authenticate"].startswith("Bearer")
                    elif wanted == 200 and path in ("/api/orders", "/api/orders/status"):
                        shown = visible_in(response, t)
                        should = obj != "missing" and reads(principal, obj) == 200
                        if shown != should:
                            failures.append(f"{seen}: order shown={shown}, wanted {should}")
            if principal != "staff":  # another's object must answer exactly like a missing one
                failures += unlike_missing(f"{method} {path}", answers)
        assert not failures, "\n".join(failures)


def unlike_missing(route: str, answers: dict[tuple[str, int], Any]) -> list[str]:
    """Each attempt where another's object was not answered exactly like a missing one."""
    unlike = []
    for attempt in sorted({attempt for _, attempt in answers}):
        theirs, missing = answers["another's", attempt], answers["missing", attempt]
        if theirs != missing:
            unlike.append(f"{route} #{attempt}: another's {theirs} != missing {missing}")
    return unlike


async def test_open_routes_need_no_token(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        for _, path in sorted(OPEN):
            assert (await anonymous.get(path)).status_code == 200, path


async def test_another_customers_orders_never_appear_on_any_page(server: RunningServer) -> None:
    a, b = f"page-a-{uuid.uuid4().hex[:6]}", f"page-b-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.admin_headers()) as adm:
        mine = {(await place(adm, a, RESTAURANT_X)).order_id for _ in range(5)}
        for _ in range(5):
            await place(adm, b, RESTAURANT_X)
    headers = server.headers(Role.CUSTOMER, a)
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as customer:
        for path, params in (
            ("/api/orders", {}),
            ("/api/orders", {"customerId": b}),
            ("/api/orders", {"restaurantId": RESTAURANT_X}),
            (f"/api/customers/{a}/orders", {}),
        ):
            seen, cursor = [], None
            while True:
                paging = {"limit": 2} | ({"cursor": cursor} if cursor else {})
                page = await customer.get(path, params={**params, **paging})
                assert page.status_code == 200, page.text
                seen += [item.get("id") or item.get("orderId") for item in page.json()["items"]]
                cursor = page.json()["nextCursor"]
                if cursor is None:
                    break
            assert set(seen) <= mine, (path, params)
            assert set(seen) == (set() if params.get("customerId") == b else mine), path


@pytest.fixture(scope="module")
def limited_server(server: RunningServer) -> Iterator[RunningServer]:
    """The same deployment with a tight per-principal limit: 1 request/s, bursts of 3."""
    settings = server.settings.with_overrides(rate_limit_per_second=1, rate_limit_burst=3)
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    for base_url in serve_in_thread(app):
        yield RunningServer(base_url, server.schema, settings)


async def test_each_principal_has_its_own_rate_limit(limited_server: RunningServer) -> None:
    a = limited_server.headers(Role.CUSTOMER, "limit-a")
    b = limited_server.headers(Role.CUSTOMER, "limit-b")
    async with httpx.AsyncClient(base_url=limited_server.base_url) as http:
        answers = [(await http.get("/api/orders", headers=a)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = await http.get("/api/orders", headers=a)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/api/orders", headers=b)).status_code == 200
        assert (await http.get("/health")).status_code == 200  # open routes are not limited
