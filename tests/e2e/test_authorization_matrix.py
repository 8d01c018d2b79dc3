"""BOLA/BFLA matrix: every route × every kind of caller × own / another's / missing object.

The rows come from the app's route table: a route without a row here fails the suite, so no
endpoint ships without its authorization being written down and checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from orderline.auth.dev import DevSigner
from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app

from .conftest import RunningServer, serve_in_thread
from .test_orders_api import order

CUSTOMER_A, CUSTOMER_B = "cust-a", "cust-b"
RESTAURANT_X, RESTAURANT_Y = "rest-x", "rest-y"
BAD = ("no token", "expired", "wrong issuer", "wrong audience", "wrong signature", "alg none")
BAD += ("HS256 with the public key",)
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


Expect = Callable[[str, str], int]  # (principal, object) -> status


def reads(principal: str, obj: str) -> int:
    """Reads of one order: the owner (or orders:admin) gets it; anything else looks missing."""
    if obj == "missing":
        return 404
    return 200 if obj == "own" or principal == "staff" else 404


def always(code: int) -> Expect:
    return lambda principal, obj: code


def customer_listing(principal: str, obj: str) -> int:
    if principal == "staff":
        return 200
    return 200 if principal.startswith("customer") and obj == "own" else 404


def restaurant_listing(principal: str, obj: str) -> int:
    if principal == "staff":
        return 200
    return 200 if principal.startswith("restaurant") and obj == "own" else 404


def placing(principal: str, obj: str) -> int:
    if principal == "staff":
        return 201
    return 201 if principal.startswith("customer") and obj == "own" else 403


def deleting(principal: str, obj: str) -> int:
    if principal != "staff":
        return 403  # orders:admin only, before anything is looked up
    return 404 if obj == "missing" else 204


def analytics(principal: str, obj: str) -> int:
    return 200 if principal == "staff" else 403


# (method, path) -> (what the principal expects, does it change the object)
ROWS: dict[tuple[str, str], tuple[Expect, bool]] = {
    ("POST", "/api/orders"): (placing, True),
    ("GET", "/api/orders"): (always(200), False),
    ("GET", "/api/orders/status"): (always(200), False),
    ("GET", "/api/orders/{order_id}"): (reads, False),
    ("GET", "/api/orders/{order_id}/status"): (reads, False),
    ("GET", "/api/orders/{order_id}/history"): (reads, False),
    ("PATCH", "/api/orders/{order_id}"): (reads, True),
    ("DELETE", "/api/orders/{order_id}"): (deleting, True),
    ("POST", "/api/orders/{order_id}/status"): (reads, True),
    ("GET", "/api/customers/{customer_id}/orders"): (customer_listing, False),
    ("GET", "/api/restaurants/{restaurant_id}/orders"): (restaurant_listing, False),
    ("GET", "/api/restaurants/{restaurant_id}/status-counts"): (restaurant_listing, False),
    ("GET", "/api/analytics/status-counts"): (analytics, False),
    ("GET", "/api/orders/{order_id}/events"): (reads, False),
    ("GET", "/api/restaurants/{restaurant_id}/events"): (restaurant_listing, False),
    ("GET", "/api/events"): (analytics, False),  # orders:admin, which the staff caller has
}  # the SSE routes (…/events) stream until closed: `ask` reads the status line and hangs up
OPEN = {("GET", "/health"), ("GET", "/health/ready"), ("GET", "/metrics")}


def test_every_route_has_a_row(server: RunningServer) -> None:
    from .test_forum_authorization import FORUM_ROWS  # the forum's rows live beside its matrix

    paths = create_app(server.settings).openapi()["paths"]  # every declared operation
    routes = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    rows = set(ROWS) | set(FORUM_ROWS)
    assert not set(ROWS) & set(FORUM_ROWS), "a route with two rows"
    assert routes - rows - OPEN == set(), "a route without an authorization row"
    assert rows | OPEN <= routes, "a row for a route that no longer exists"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    head = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, head.encode(), hashlib.sha256).digest() if key else b""
    return f"{head}.{_b64(signature)}"


def tokens(server: RunningServer, tmp_path: Any) -> dict[str, str | None]:
    settings = server.settings
    issue = server.token
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": CUSTOMER_A,
        "role": "customer",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    public = DevSigner(settings.data_dir, issuer="x", audience="y").public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "no token": None,
        "expired": DevSigner(
            settings.data_dir, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        ).issue(CUSTOMER_A, Role.CUSTOMER, now=time.time() - 7200),
        "wrong issuer": DevSigner(
            settings.data_dir, issuer="someone-else", audience=settings.jwt_audience
        ).issue(CUSTOMER_A, Role.CUSTOMER),
        "wrong audience": DevSigner(
            settings.data_dir, issuer=settings.jwt_issuer, audience="another-api"
        ).issue(CUSTOMER_A, Role.CUSTOMER),
        "wrong signature": DevSigner(
            tmp_path, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        ).issue(CUSTOMER_A, Role.CUSTOMER),
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, claims, None),
        "HS256 with the public key": _unsigned({"alg": "HS256", "typ": "JWT"}, claims, public),
        "customer A": issue(Role.CUSTOMER, CUSTOMER_A),
        "customer B": issue(Role.CUSTOMER, CUSTOMER_B),
        "restaurant X": issue(Role.RESTAURANT, "chef-x", restaurant=RESTAURANT_X),
        "restaurant Y": issue(Role.RESTAURANT, "chef-y", restaurant=RESTAURANT_Y),
        "staff": issue(Role.STAFF, "ops", scopes=("orders:admin", "analytics:read")),
    }


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
            for obj in OBJECTS:
                t = await target(admin, standing, principal, obj, fresh=changes)
                wanted = 401 if principal in BAD else expect(principal, obj)
                # twice: the first read may warm the cache, the second must not leak either
                for attempt in (1, 2) if not changes else (1,):
                    response = await ask(caller, request_for(method, path, principal, t))
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
        assert not failures, "\n".join(failures)


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
