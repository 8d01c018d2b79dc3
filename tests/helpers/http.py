"""Request bodies and answers of the HTTP API, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

ORDER: dict[str, Any] = {
    "customerId": "cust-e2e",
    "restaurantId": "rest-e2e",
    "items": [
        {"itemId": "pizza", "name": "Pizza", "quantity": 2, "unitPrice": "15.99"},
        {"itemId": "cola", "name": "Cola", "quantity": 1, "unitPrice": "2.50"},
    ],
    "deliveryAddress": {
        "street": "1 Main St",
        "city": "New York",
        "postalCode": "10001",
        "latitude": 40.7,
        "longitude": -74.0,
    },
}


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    return body


async def create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/orders", json=order(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for needle in needles:
        assert needle in response.text, f"{needle!r} not in {response.text}"
    return body


# the one order of the smoke tests that start `orderline` as a process (customer "smoke")
SMOKE_ORDER = {
    "customerId": "smoke",
    "restaurantId": "smoke",
    "items": [{"itemId": "tea", "name": "Tea", "quantity": 1, "unitPrice": "2.00"}],
    "deliveryAddress": {
        "street": "1 Main",
        "city": "Town",
        "postalCode": "1",
        "latitude": 0,
        "longitude": 0,
    },
}


async def projected(client: httpx.AsyncClient) -> None:
    """Wait for write-through to land in DynamoDB: it runs just after each response, and the
    DynamoDB-only views (history, listings, counts) follow it."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        metrics = (await client.get("/metrics")).text
        if "\norderline_write_through_backlog_events 0.0\n" in metrics:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("write-through did not finish within 10 s")
