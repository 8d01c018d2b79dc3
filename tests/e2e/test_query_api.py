"""The query endpoints over HTTP: read path headers, batch, history, listings, counts, errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..helpers.counting import server_settled
from ..helpers.http import assert_problem, create, projected
from ..helpers.server import RunningServer


async def advance(client: httpx.AsyncClient, order_id: str, *statuses: str) -> None:
    for status in statuses:
        response = await client.post(f"/api/orders/{order_id}/status", json={"status": status})
        assert response.status_code == 200, response.text
    await projected(client)


async def counters_settled(server: RunningServer) -> None:
    """Wait until the server's aggregator has counted the history (it follows the stream)."""
    await server_settled(server.settings)


async def test_status_read_names_its_tier_and_honours_min_version(
    client: httpx.AsyncClient,
) -> None:
    placed = await create(client)
    await advance(client, placed["id"], "CONFIRMED")
    response = await client.get(f"/api/orders/{placed['id']}/status", params={"minVersion": 2})
    assert response.status_code == 200
    assert response.headers["x-read-source"] in ("cache", "dynamodb", "postgres")
    body = response.json()
    assert (body["status"], body["version"], body["totalAmount"]) == ("CONFIRMED", 2, "34.48")
    assert response.headers["etag"] == '"2"'
    details = await client.get(f"/api/orders/{placed['id']}")
    assert details.headers["x-read-source"] and details.json()["items"][0]["itemId"] == "pizza"


async def test_status_errors(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/api/orders/{uuid.uuid4()}/status"), 404, "not found")
    assert_problem(await client.get("/api/orders/nope/status"), 422, "path.order_id")
    placed = await create(client)
    assert_problem(
        await client.get(f"/api/orders/{placed['id']}/status", params={"minVersion": 0}),
        422,
        "query.minVersion",
    )


async def test_batch_status(client: httpx.AsyncClient) -> None:
    first, second = await create(client), await create(client)
    unknown = str(uuid.uuid4())
    ids = ",".join([first["id"], unknown, second["id"], first["id"]])
    response = await client.get("/api/orders/status", params={"ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["orderId"] for item in body["items"]] == [first["id"], second["id"]]
    assert body["notFound"] == [unknown]
    assert sum(body["sources"].values()) == 2  # the orders shown, not the unknown id
    too_many = ",".join(str(uuid.uuid4()) for _ in range(101))
    assert_problem(
        await client.get("/api/orders/status", params={"ids": too_many}), 422, "query.ids", "101"
    )
    assert_problem(
        await client.get("/api/orders/status", params={"ids": f"{first['id']},bad"}),
        422,
        "query.ids",
        "item 1",
    )
    assert_problem(await client.get("/api/orders/status"), 422, "query.ids")


async def test_history_pages_newest_first_and_rejects_foreign_cursors(
    client: httpx.AsyncClient,
) -> None:
    placed = await create(client)
    await advance(client, placed["id"], "CONFIRMED", "PROCESSING", "SHIPPED")
    url = f"/api/orders/{placed['id']}/history"
    first = (await client.get(url, params={"limit": 3})).json()
    assert [entry["status"] for entry in first["items"]] == ["SHIPPED", "PROCESSING", "CONFIRMED"]
    assert first["items"][0]["previousStatus"] == "PROCESSING"
    rest = (await client.get(url, params={"limit": 3, "cursor": first["nextCursor"]})).json()
    assert [entry["eventType"] for entry in rest["items"]] == ["OrderPlaced"]
    assert rest["nextCursor"] is None
    other = await create(client)
    assert_problem(
        await client.get(
            f"/api/orders/{other['id']}/history", params={"cursor": first["nextCursor"]}
        ),
        400,
        "different query",
    )
    tampered = first["nextCursor"][:-2] + ("AA" if not first["nextCursor"].endswith("AA") else "BB")
    assert_problem(await client.get(url, params={"cursor": tampered}), 400, "cursor")
    assert_problem(await client.get(f"/api/orders/{uuid.uuid4()}/history"), 404)


async def test_customer_and_restaurant_listings(client: httpx.AsyncClient) -> None:
    customer, restaurant = f"c-{uuid.uuid4().hex[:8]}", f"r-{uuid.uuid4().hex[:8]}"
    ids = [
        (await create(client, customerId=customer, restaurantId=restaurant))["id"] for _ in range(7)
    ]
    await advance(client, ids[0], "CONFIRMED")
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await client.get(f"/api/customers/{customer}/orders", params=params)).json()
        seen += page["items"]
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    assert sorted(item["orderId"] for item in seen) == sorted(ids)
    assert seen[0]["orderId"] == ids[0]  # the most recently changed
    confirmed = await client.get(
        f"/api/restaurants/{restaurant}/orders", params={"status": "CONFIRMED"}
    )
    assert [item["orderId"] for item in confirmed.json()["items"]] == [ids[0]]
    page = (await client.get(f"/api/customers/{customer}/orders", params={"limit": 3})).json()
    assert_problem(
        await client.get(
            f"/api/restaurants/{restaurant}/orders", params={"cursor": page["nextCursor"]}
        ),
        400,
        "different query",
    )
    assert_problem(
        await client.get(f"/api/customers/{customer}/orders", params={"status": "LOST"}),
        422,
        "query.status",
    )


async def test_status_counts(client: httpx.AsyncClient, server: RunningServer) -> None:
    before = (await client.get("/api/analytics/status-counts")).json()
    placed = await create(client)
    await advance(client, placed["id"], "CANCELLED")
    await counters_settled(server)
    after = (await client.get("/api/analytics/status-counts")).json()
    for status, added in (("PENDING", 1), ("CANCELLED", 1)):
        assert after["totals"][status]["count"] == before["totals"][status]["count"] + added
    assert after["current"]["CANCELLED"] == before["current"]["CANCELLED"] + 1
    assert after["current"]["PENDING"] == before["current"]["PENDING"]
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z")
    assert hour in [bucket["hour"] for bucket in after["buckets"]]


async def test_status_count_ranges_are_validated(client: httpx.AsyncClient) -> None:
    url = "/api/analytics/status-counts"
    now = datetime.now(UTC)
    assert_problem(
        await client.get(
            url, params={"from": now.isoformat(), "to": (now - timedelta(hours=2)).isoformat()}
        ),
        422,
        "query.from",
    )
    assert_problem(
        await client.get(url, params={"from": (now - timedelta(days=40)).isoformat()}),
        422,
        "31 days",
    )
    assert_problem(await client.get(url, params={"to": "2026-11-22T10:00:00"}), 422, "time zone")
    assert_problem(await client.get(url, params={"to": "yesterday"}), 422, "query.to")
    ok = await client.get(
        url, params={"from": "2026-11-01T10:30:00Z", "to": "2026-11-01T12:10:00Z"}
    )
    assert ok.status_code == 200
    assert (ok.json()["from"], ok.json()["to"]) == ("2026-11-01T10:00:00Z", "2026-11-01T13:00:00Z")
