"""The OpenAPI document, refined to say exactly what the server enforces.

FastAPI's document is edited once, when first built: an optional query or header parameter is
its value's schema (absent, never `null`: there is no null in a query string); every operation
names who may call it (`x-required-scopes`, `x-roles` and one **Access** line in its
description), and an operation only a scope opens lists that scope in its security requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from orderline.domain.access import Role, Scope

OWN = (Role.CUSTOMER, Role.RESTAURANT)


def _rule(scopes: tuple[Scope, ...], roles: tuple[Role, ...], text: str) -> dict[str, Any]:
    return {"scopes": [str(s) for s in scopes], "roles": [str(r) for r in roles], "text": text}


ADMIN = (Scope.ORDERS_ADMIN,)
EVERYONE = tuple(Role)
MODERATE = (Scope.FORUM_MODERATE,)
_FORUM_READ = _rule((), EVERYONE, "any authenticated principal")
_FORUM_AUTHOR = _rule(MODERATE, EVERYONE, "its author (the token's subject); forum:moderate, any")
FORUM_ACCESS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/forum/users"): _rule((), EVERYONE, "any principal, as itself"),
    ("get", "/api/forum/users"): _rule(MODERATE, (), "forum:moderate only"),
    ("get", "/api/forum/users/{user_id}"): _FORUM_READ,
    ("patch", "/api/forum/users/{user_id}"): _FORUM_AUTHOR,
    ("delete", "/api/forum/users/{user_id}"): _FORUM_AUTHOR,
    ("get", "/api/forum/users/{user_id}/posts"): _FORUM_READ,
    ("post", "/api/forum/threads"): _rule((), EVERYONE, "a registered forum user"),
    ("get", "/api/forum/threads"): _FORUM_READ,
    ("get", "/api/forum/threads/{thread_id}"): _FORUM_READ,
    ("patch", "/api/forum/threads/{thread_id}"): _FORUM_AUTHOR,
    ("delete", "/api/forum/threads/{thread_id}"): _FORUM_AUTHOR,
    ("post", "/api/forum/threads/{thread_id}/posts"): _rule(
        (), EVERYONE, "a registered forum user"
    ),
    ("get", "/api/forum/threads/{thread_id}/posts"): _FORUM_READ,
    ("get", "/api/forum/posts/{post_id}"): _FORUM_READ,
    ("patch", "/api/forum/posts/{post_id}"): _FORUM_AUTHOR,
    ("delete", "/api/forum/posts/{post_id}"): _FORUM_AUTHOR,
}
READ_OWN = _rule(ADMIN, OWN, "customers and restaurants, their own orders only; orders:admin, any")
# Who may call each operation: the scopes that open it to any principal, the roles that may call
# it on their own objects, and the sentence the description shows.
ACCESS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/orders"): _rule(
        ADMIN, (Role.CUSTOMER,), "a customer, for itself (customerId = subject); orders:admin"
    ),
    ("get", "/api/orders"): READ_OWN,
    ("get", "/api/orders/status"): READ_OWN,
    ("get", "/api/orders/{order_id}"): READ_OWN,
    ("get", "/api/orders/{order_id}/status"): READ_OWN,
    ("get", "/api/orders/{order_id}/history"): READ_OWN,
    ("patch", "/api/orders/{order_id}"): _rule(
        ADMIN,
        OWN,
        "customers change items and address of their own orders, restaurants the estimate; "
        "orders:admin, anything",
    ),
    ("delete", "/api/orders/{order_id}"): _rule(ADMIN, (), "orders:admin only"),
    ("post", "/api/orders/{order_id}/status"): _rule(
        ADMIN,
        OWN,
        "customers cancel their own orders, restaurants move theirs to CONFIRMED, PROCESSING, "
        "SHIPPED or CANCELLED; orders:admin, any status",
    ),
    ("get", "/api/customers/{customer_id}/orders"): _rule(
        ADMIN, (Role.CUSTOMER,), "the customer itself; orders:admin, any customer"
    ),
    ("get", "/api/restaurants/{restaurant_id}/orders"): _rule(
        ADMIN, (Role.RESTAURANT,), "the restaurant itself; orders:admin, any restaurant"
    ),
    ("get", "/api/analytics/status-counts"): _rule(
        (Scope.ANALYTICS_READ,), (), "analytics:read only"
    ),
    ("get", "/api/restaurants/{restaurant_id}/status-counts"): _rule(
        (Scope.ANALYTICS_READ,), (Role.RESTAURANT,), "the restaurant itself; analytics:read, any"
    ),
    # live tracking: subscriptions are authorized exactly like reads
    ("get", "/api/orders/{order_id}/events"): READ_OWN,
    ("get", "/api/restaurants/{restaurant_id}/events"): _rule(
        ADMIN, (Role.RESTAURANT,), "the restaurant itself; orders:admin, any restaurant"
    ),
    ("get", "/api/events"): _rule(ADMIN, (), "orders:admin only"),
    **FORUM_ACCESS,
    ("get", "/metrics"): _rule(
        (Scope.METRICS_READ,),
        (),
        "open to this machine (ORDERLINE_METRICS_ACCESS=loopback, the default); from "
        "elsewhere a token with metrics:read",
    ),
}
# Operations whose token is optional: /metrics asks none from this machine.
OPTIONAL_TOKEN = frozenset({("get", "/metrics")})
REFINED = "x-orderline-refined"


def install(app: FastAPI) -> None:
    """Refine the document FastAPI builds, once, where it caches it."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # FastAPI's cached document, rebuilt when routes change
        refine(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def refine(document: dict[str, Any]) -> None:
    """Edit the document in place; a document already refined is left as it is."""
    if document.get(REFINED):
        return
    document[REFINED] = True
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
            rule = ACCESS.get((method, path))
            if rule is not None:
                _declare_access(operation, rule, optional=(method, path) in OPTIONAL_TOKEN)
            if operation.get("security"):
                _declare_refusals(operation)
            _declare_transport_refusals(operation)
            _problems_only(operation)
            _describe_events(operation)


AUTH_REFUSALS = {
    "401": "Unauthorized",
    "403": "Forbidden",
    "429": "Too Many Requests",
    "503": "Service Unavailable (the identity provider's keys cannot be fetched; Retry-After)",
}


def _declare_refusals(operation: dict[str, Any]) -> None:
    """Every operation behind a token may answer 401, 403, 429 and 503 (problem+json)."""
    responses = operation.setdefault("responses", {})
    for code, title in AUTH_REFUSALS.items():
        responses.setdefault(
            code,
            {
                "description": title,
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )


PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# What the server answers before any route reads the request, on every operation: a request
# the HTTP parser cannot read (400), a body over 1 MiB whatever the method (413), a URL over
# `http_protocol.MAX_URL_BYTES` (414).
TRANSPORT_REFUSALS = {
    "400": "Bad Request",
    "413": "Content Too Large",
    "414": "URI Too Long",
}


def _declare_transport_refusals(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code, title in TRANSPORT_REFUSALS.items():
        responses.setdefault(code, {"description": title})


def _problems_only(operation: dict[str, Any]) -> None:
    """Every 4xx and 5xx answer is `application/problem+json` (never plain JSON, nor an event
    stream, as FastAPI would declare it from a route's response class)."""
    for code, response in operation.get("responses", {}).items():
        if code[0] in "45":
            response["content"] = PROBLEM_CONTENT
            if code == "422":
                response["description"] = "Invalid request (`errors` names each field)"


# One Server-Sent Event as it arrives (OpenAPI 3.1: an event stream's `schema` is one event).
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "`ready`, `change` or a final `resume`"},
        "data": {"type": "string", "description": "JSON: the position, or the order's status"},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


def _describe_events(operation: dict[str, Any]) -> None:
    stream = operation.get("responses", {}).get("200", {}).get("content", {})
    if "text/event-stream" in stream:
        stream["text/event-stream"] = {"schema": SSE_EVENT}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` → X, keeping the parameter's title, description, default."""
    variants = schema.get("anyOf")
    if not variants:
        return schema
    kept = [variant for variant in variants if variant != {"type": "null"}]
    if len(kept) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest}


def _declare_access(operation: dict[str, Any], rule: dict[str, Any], *, optional: bool) -> None:
    operation["x-required-scopes"] = rule["scopes"]
    operation["x-roles"] = rule["roles"]
    line = f"**Access:** {rule['text']}."
    description = operation.get("description")
    operation["description"] = f"{description}\n\n{line}" if description else line
    if not rule["roles"]:  # the scope alone opens it: say so where security is declared
        requirement = [
            {name: list(rule["scopes"]) for name in entry}
            for entry in operation.get("security", [])
        ]
        operation["security"] = requirement
    if optional:
        operation["security"] = [{}, *operation.get("security", [])]
