"""The authorization matrices' rows, what each caller expects of each route, and the tokens
every matrix is asked with.

`ROWS` (the order API) and `FORUM_ROWS` (the forum) map (method, path) to (the status a caller
expects for its own / another's / a missing object, whether the request changes the object).
A route of the app without a row here fails `test_every_route_has_a_row`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization

from orderline.auth.dev import DevSigner
from orderline.domain.access import Role

from .server import RunningServer

CUSTOMER_A, CUSTOMER_B = "cust-a", "cust-b"
RESTAURANT_X, RESTAURANT_Y = "rest-x", "rest-y"
BAD = ("no token", "expired", "wrong issuer", "wrong audience", "wrong signature", "alg none")
BAD += ("HS256 with the public key",)

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


# Headers that differ between any two answers: when, which request, and the body's length
# (the body itself is compared; ids of different lengths are blanked out of it).
VOLATILE_HEADERS = frozenset({"date", "content-length", "x-request-id"})


def comparable(response: httpx.Response, *names: str) -> tuple[int, dict[str, str], str]:
    """A response as a caller sees it, with the names of its object (order id, customer,
    restaurant) blanked: what must be identical for another's object and a missing one."""

    def blank(text: str) -> str:
        for name in names:
            text = text.replace(name, "<name>")
        return text

    headers = {
        key: blank(value) for key, value in response.headers.items() if key not in VOLATILE_HEADERS
    }
    try:
        body = blank(response.text)
    except httpx.ResponseNotRead:  # an event stream, hung up once its headers were in
        body = ""
    return response.status_code, headers, body


# -- the forum: readable by every authenticated principal; writes by the author (or a moderator)


def found(code: int) -> Expect:
    return lambda caller, obj: 404 if obj == "missing" else code


def authored(code: int, *, moderators: bool = True) -> Expect:
    """The author (or a moderator) may; anyone else 403; missing 404."""

    def expect(caller: str, obj: str) -> int:
        if obj == "missing":
            return 404
        if obj == "own" or (moderators and caller == "moderator"):
            return code
        return 403

    return expect


def moderators_only(caller: str, obj: str) -> int:
    if caller != "moderator":
        return 403
    return 404 if obj == "missing" else 200


# (method, path) -> (expected status, does it change the object)
FORUM_ROWS: dict[tuple[str, str], tuple[Expect, bool]] = {
    ("POST", "/api/forum/users"): (always(409), True),  # callers are registered already
    ("GET", "/api/forum/users"): (moderators_only, False),
    ("GET", "/api/forum/users/{user_id}"): (found(200), False),
    ("PATCH", "/api/forum/users/{user_id}"): (authored(200, moderators=False), True),
    ("DELETE", "/api/forum/users/{user_id}"): (authored(204), True),
    ("GET", "/api/forum/users/{user_id}/posts"): (always(200), False),
    ("POST", "/api/forum/threads"): (always(201), True),
    ("GET", "/api/forum/threads"): (always(200), False),
    ("GET", "/api/forum/threads/{thread_id}"): (found(200), False),
    ("PATCH", "/api/forum/threads/{thread_id}"): (authored(200), True),
    ("DELETE", "/api/forum/threads/{thread_id}"): (authored(204), True),
    ("POST", "/api/forum/threads/{thread_id}/posts"): (found(201), True),
    ("GET", "/api/forum/threads/{thread_id}/posts"): (found(200), False),
    ("GET", "/api/forum/posts/{post_id}"): (found(200), False),
    ("PATCH", "/api/forum/posts/{post_id}"): (authored(200), True),
    ("DELETE", "/api/forum/posts/{post_id}"): (authored(204), True),
}


# -- tokens: the bad ones (every route answers 401) and one per principal of the order matrix


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
