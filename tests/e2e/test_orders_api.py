"""The order API over HTTP: happy paths, and every kind of bad input getting a precise problem."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from orderline.domain.access import Role

from ..helpers.http import ORDER, assert_problem, create, order, projected
from ..helpers.server import RunningServer


async def test_place_order_computes_totals_and_points_to_itself(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/orders", json=order())
    assert response.status_code == 201
    body = response.json()
    assert body["totalAmount"] == "34.48" and body["status"] == "PENDING"
    assert response.headers["etag"] == '"1"'
    fetched = await client.get(response.headers["location"])
    assert fetched.json() == body


async def test_idempotency_key_replays_and_refuses_another_body(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await client.post("/api/orders", json=order(), headers=key)
    again = await client.post("/api/orders", json=order(), headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/orders", json=order(customerId="someone-else"), headers=key)
    assert_problem(other, 422, "different request body")
    bad = await client.post("/api/orders", json=order(), headers={"Idempotency-Key": "has space"})
    assert_problem(bad, 400, "Idempotency-Key")


async def test_status_lifecycle_over_http(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/api/orders/{created['id']}/status"
    confirmed = await client.post(url, json={"status": "CONFIRMED"})
    assert confirmed.json()["version"] == 2 and confirmed.headers["status-changed"] == "true"
    same = await client.post(url, json={"status": "CONFIRMED"})
    assert same.status_code == 200 and same.json()["version"] == 2
    assert same.headers["status-changed"] == "false"
    forbidden = await client.post(url, json={"status": "DELIVERED"})
    problem = assert_problem(forbidden, 409, "CONFIRMED to DELIVERED")
    assert problem["allowedNext"] == ["PROCESSING", "CANCELLED"]
    stale = await client.post(url, json={"status": "PROCESSING"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "version 2")
    fresh = await client.post(url, json={"status": "PROCESSING"}, headers={"If-Match": '"2"'})
    assert fresh.status_code == 200 and fresh.json()["status"] == "PROCESSING"
    assert_problem(
        await client.post(url, json={"status": "SHIPPED"}, headers={"If-Match": "3"}),
        400,
        "If-Match",
    )


async def test_patch_rules(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/api/orders/{created['id']}"
    new_items = [{"itemId": "soup", "name": "Soup", "quantity": 3, "unitPrice": "4.10"}]
    patched = await client.patch(url, json={"items": new_items}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["totalAmount"] == "12.30" and patched.headers["etag"] == '"2"'
    assert_problem(await client.patch(url, json={}), 422, "at least one")
    assert_problem(await client.patch(url, json={"status": "DELIVERED"}), 422, "body.status")
    assert_problem(await client.patch(url, json={"totalAmount": "0.01"}), 422, "body.totalAmount")
    assert_problem(await client.patch(url, json={"items": None}), 422, "cannot be null")
    for status in ("CONFIRMED", "PROCESSING"):
        await client.post(f"{url}/status", json={"status": status})
    problem = assert_problem(await client.patch(url, json={"items": new_items}), 409, "PROCESSING")
    assert problem["fields"] == ["items"]
    eta = await client.patch(url, json={"estimatedDeliveryTime": "2030-01-01T10:00:00+02:00"})
    assert eta.json()["estimatedDeliveryTime"] == "2030-01-01T08:00:00.000000Z"
    naive = await client.patch(url, json={"estimatedDeliveryTime": "2030-01-01T10:00:00"})
    assert_problem(naive, 422, "timezone")


async def test_delete_hides_the_order(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/api/orders/{created['id']}"
    assert_problem(await client.delete(url, headers={"If-Match": '"5"'}), 412)
    assert (await client.delete(url)).status_code == 204
    assert_problem(await client.get(url), 404, created["id"])
    assert_problem(await client.delete(url), 404)
    assert_problem(await client.post(f"{url}/status", json={"status": "CONFIRMED"}), 404)


async def test_listing_pages_newest_first_with_filters(client: httpx.AsyncClient) -> None:
    customer = f"lister-{uuid.uuid4().hex[:8]}"
    ids = [(await create(client, customerId=customer))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"customerId": customer, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/orders", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    first = (await client.get("/api/orders", params={"customerId": customer, "limit": 3})).json()
    tampered = first["nextCursor"][:-2] + ("AA" if first["nextCursor"][-2:] != "AA" else "BB")
    assert_problem(
        await client.get("/api/orders", params={"customerId": customer, "cursor": tampered}),
        400,
        "cursor",
    )
    other_query = {"customerId": "someone-else", "cursor": first["nextCursor"]}
    assert_problem(await client.get("/api/orders", params=other_query), 400, "different query")
    assert_problem(await client.get("/api/orders", params={"cursor": "garbage"}), 400, "cursor")
    capped = (await client.get("/api/orders", params={"limit": 1000})).json()
    assert len(capped["items"]) <= 50
    assert_problem(await client.get("/api/orders", params={"limit": 0}), 422, "query.limit")
    assert_problem(await client.get("/api/orders", params={"status": "LOST"}), 422, "query.status")
    pending = (
        await client.get("/api/orders", params={"customerId": customer, "status": "PENDING"})
    ).json()
    assert len(pending["items"]) == 7


BAD_BODIES = [
    ("unknown field", order(status="DELIVERED"), "body.status"),
    ("server-owned total", order(totalAmount="0.00"), "body.totalAmount"),
    ("server-owned version", order(version=9), "body.version"),
    ("no items", order(items=[]), "body.items"),
    ("too many items", order(items=[ORDER["items"][0]] * 101), "body.items"),
    ("quantity 0", order(items=[{**ORDER["items"][0], "quantity": 0}]), "body.items.0.quantity"),
    (
        "quantity 1001",
        order(items=[{**ORDER["items"][0], "quantity": 1001}]),
        "body.items.0.quantity",
    ),
    (
        "quantity as text",
        order(items=[{**ORDER["items"][0], "quantity": "2"}]),
        "body.items.0.quantity",
    ),
    (
        "negative price",
        order(items=[{**ORDER["items"][0], "unitPrice": "-1"}]),
        "body.items.0.unitPrice",
    ),
    (
        "three decimals",
        order(items=[{**ORDER["items"][0], "unitPrice": "1.999"}]),
        "body.items.0.unitPrice",
    ),
    ("long name", order(items=[{**ORDER["items"][0], "name": "x" * 201}]), "body.items.0.name"),
    ("bad id characters", order(customerId="a b/c"), "body.customerId"),
    ("long id", order(restaurantId="r" * 65), "body.restaurantId"),
    (
        "latitude",
        order(deliveryAddress={**ORDER["deliveryAddress"], "latitude": 91}),
        "body.deliveryAddress.latitude",
    ),
    (
        "longitude",
        order(deliveryAddress={**ORDER["deliveryAddress"], "longitude": -181}),
        "body.deliveryAddress.longitude",
    ),
    (
        "missing address",
        {k: v for k, v in ORDER.items() if k != "deliveryAddress"},
        "body.deliveryAddress",
    ),
    ("currency", order(currency="usd"), "body.currency"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_orders_are_refused_with_the_field(
    client: httpx.AsyncClient, case: str, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(await client.post("/api/orders", json=body), 422)
    assert field in [error["field"] for error in problem["errors"]], (case, problem)
    assert (
        problem["detail"].startswith(field)
        or field in problem["detail"]
        or len(problem["errors"]) > 1
    )


async def test_malformed_json_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/orders", content=b'{"customerId": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "not valid JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/api/orders", content=b"{}", headers={"Content-Type": content_type}
    )
    assert_problem(response, 415, "application/json", content_type)


async def test_json_that_is_not_an_object_names_the_body(client: httpx.AsyncClient) -> None:
    for raw in (b"[]", b"null", b'"text"'):
        response = await client.post(
            "/api/orders", content=raw, headers={"Content-Type": "application/json"}
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "body"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"customerId": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await client.post(
        "/api/orders", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "exceeds")


async def test_oversized_streamed_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/orders", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "exceeds")


async def test_path_and_route_errors(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/orders/not-a-uuid"), 422, "path.order_id")
    assert_problem(await client.get(f"/api/orders/{uuid.uuid4()}"), 404, "does not exist")
    assert_problem(await client.get("/api/nowhere"), 404, "no route")
    assert_problem(await client.put(f"/api/orders/{uuid.uuid4()}", json={}), 405)
    status_body = {"status": "confirmed"}
    created = await create(client)
    problem = assert_problem(
        await client.post(f"/api/orders/{created['id']}/status", json=status_body), 422
    )
    assert problem["errors"][0]["field"] == "body.status"
    big_metadata = {"status": "CONFIRMED", "metadata": {"x": "y" * 5000}}
    assert_problem(
        await client.post(f"/api/orders/{created['id']}/status", json=big_metadata), 422, "metadata"
    )


async def test_openapi_documents_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    place = spec["components"]["schemas"]["PlaceOrderIn"]
    assert place["examples"][0]["items"][0]["itemId"] == "pizza-margherita"
    assert "/api/orders/{order_id}/status" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_a_customer_cannot_reprice_a_confirmed_order(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """Finding 2 (issue 21): items and prices change only while PENDING; after that only
    orders:admin corrects them, with a reason the history records."""
    customer_id = f"reprice-{uuid.uuid4().hex[:8]}"
    created = await create(client, customerId=customer_id)
    url = f"/api/orders/{created['id']}"
    cheap = [{"itemId": "pizza", "name": "Pizza", "quantity": 2, "unitPrice": "0.01"}]
    headers = server.headers(Role.CUSTOMER, customer_id)
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as customer:
        assert (await customer.patch(url, json={"items": ORDER["items"][:1]})).status_code == 200
        await client.post(f"{url}/status", json={"status": "CONFIRMED"})
        problem = assert_problem(await customer.patch(url, json={"items": cheap}), 409, "CONFIRMED")
        assert problem["fields"] == ["items"]
        moved = await customer.patch(url, json={"deliveryAddress": ORDER["deliveryAddress"]})
        assert moved.status_code == 200  # the address still may, until the kitchen starts
    assert_problem(await client.patch(url, json={"items": cheap}), 409, "reason")
    unchanged = (await client.get(url)).json()
    assert (unchanged["status"], unchanged["totalAmount"]) == ("CONFIRMED", "31.98")
    corrected = await client.patch(url, json={"items": cheap, "reason": "goodwill"})
    assert corrected.status_code == 200 and corrected.json()["totalAmount"] == "0.02"
    await projected(client)
    latest = (await client.get(f"{url}/history")).json()["items"][0]
    assert (latest["eventType"], latest["changedFields"]) == ("OrderUpdated", ["items"])
    assert (latest["reason"], latest["userId"]) == ("goodwill", "staff-1")


SEED_001_BODY = b"""{
    "customerId": "123e4567-e89b-12d3-a456-426614174000",
    "restaurantId": "550e8400-e29b-41d4-a716-446655440001",
    "items": [{"itemId": "pizza", "name": "Pizza", "quantity": 1, "unitPrice": 15.99}],
    "deliveryAddress": {
      "street": "123 Main St",
      "city": "New York",
      "postalCode": "10001",
      "latitude": 40.7128,
      "longitude": -74.0060
    }
  }"""


async def test_money_as_a_json_number_is_read_exactly(client: httpx.AsyncClient) -> None:
    """Seed 001's contract: `"unitPrice": 15.99` as a JSON number, answered as a string."""
    json_headers = {"Content-Type": "application/json"}
    placed = await client.post("/api/orders", content=SEED_001_BODY, headers=json_headers)
    assert placed.status_code == 201, placed.text
    assert placed.json()["items"][0]["unitPrice"] == "15.99"
    assert placed.json()["totalAmount"] == "15.99"
    for literal, price in (("7", "7.00"), ("0.1", "0.10"), ("1.50", "1.50"), ("1e2", "100.00")):
        raw = SEED_001_BODY.replace(b"15.99", literal.encode())
        answer = await client.post("/api/orders", content=raw, headers=json_headers)
        assert answer.status_code == 201, (literal, answer.text)
        assert answer.json()["items"][0]["unitPrice"] == price, literal
    # the same limits as the string form; a literal a float would round is refused, not rounded
    for literal in ("15.999", "15.990000000000000001", "-1", "100000.01", "1e400", "true"):
        raw = SEED_001_BODY.replace(b"15.99", literal.encode())
        answer = await client.post("/api/orders", content=raw, headers=json_headers)
        assert_problem(answer, 422, "body.items.0.unitPrice")


async def test_deeply_nested_metadata_is_refused_not_a_500(client: httpx.AsyncClient) -> None:
    """Finding 8 (issue 21): nesting reached the recursion limit before the size check."""
    created = await create(client)
    url = f"/api/orders/{created['id']}/status"
    json_headers = {"Content-Type": "application/json"}
    for depth in (990, 900, 5000, 200_000, 40):
        nested = b"[" * depth + b"]" * depth
        raw = b'{"status": "CONFIRMED", "metadata": {"x": ' + nested + b"}}"
        response = await client.post(url, content=raw, headers=json_headers)
        assert response.status_code in (400, 422), (depth, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")
    too_deep: Any = []
    for _ in range(40):
        too_deep = [too_deep]
    deep = {"status": "CONFIRMED", "metadata": {"x": too_deep}}
    assert_problem(await client.post(url, json=deep), 422, "16 levels")
    fine = {"status": "CONFIRMED", "metadata": {"price": 1.5, "tags": [[1, 2], {"a": None}]}}
    answer = await client.post(url, json=fine)
    assert answer.status_code == 200, answer.text
    await projected(client)
    latest = (await client.get(f"/api/orders/{created['id']}/history")).json()["items"][0]
    assert latest["metadata"] == fine["metadata"]


async def test_idempotency_keys_belong_to_their_principal(server: RunningServer) -> None:
    """Finding 5 (issue 21): B reusing A's key got 422 (B learnt it exists) and B could take
    predictable keys first, so A's orders failed for 24 h."""
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    a, b = f"idem-a-{uuid.uuid4().hex[:6]}", f"idem-b-{uuid.uuid4().hex[:6]}"
    async with (
        httpx.AsyncClient(base_url=server.base_url, headers=server.headers(Role.CUSTOMER, a)) as ca,
        httpx.AsyncClient(base_url=server.base_url, headers=server.headers(Role.CUSTOMER, b)) as cb,
    ):
        first = await ca.post("/api/orders", json=order(customerId=a), headers=key)
        assert first.status_code == 201, first.text
        theirs = await cb.post("/api/orders", json=order(customerId=b), headers=key)
        assert theirs.status_code == 201, theirs.text  # a fresh order for B, not a 422
        assert "idempotent-replayed" not in theirs.headers
        assert theirs.json()["id"] != first.json()["id"]
        again = await ca.post("/api/orders", json=order(customerId=a), headers=key)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert (await cb.post("/api/orders", json=order(customerId=b), headers=key)).json() == (
            theirs.json()
        )
