"""Costly paths are rate limited by their cost, not their count (issue 21, finding 9, OWASP
API4): a `minVersion` the order has not reached and an uncached status-counts range take more
of the principal's tokens than a plain read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderline.bootstrap import bootstrap
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app

from ..helpers.http import create
from ..helpers.server import RunningServer, serve_in_thread

BURST = 30


@pytest.fixture(scope="module")
def limited_server(server: RunningServer) -> Iterator[RunningServer]:
    """The same deployment with a slow refill (0.01 token/s), bursts of 30."""
    settings = server.settings.with_overrides(rate_limit_per_second=0.01, rate_limit_burst=BURST)
    app = create_app(settings, lambda: bootstrap(settings, schema=server.schema))
    for base_url in serve_in_thread(app):
        yield RunningServer(base_url, server.schema, settings)


async def cheap_reads_left(http: httpx.AsyncClient, url: str) -> int:
    """How many plain reads the principal can still make before a 429."""
    for made in range(BURST + 1):
        if (await http.get(url)).status_code == 429:
            return made
    raise AssertionError("never limited")


async def test_a_min_version_the_order_has_not_reached_costs_more(
    limited_server: RunningServer, client: httpx.AsyncClient
) -> None:
    customer = f"costly-{uuid.uuid4().hex[:6]}"
    order_id = (await create(client, customerId=customer))["id"]
    url = f"/api/orders/{order_id}/status"
    headers = limited_server.headers(Role.CUSTOMER, customer)
    async with httpx.AsyncClient(base_url=limited_server.base_url, headers=headers) as http:
        ahead = await http.get(url, params={"minVersion": 10**9})
        assert ahead.status_code == 200 and ahead.json()["version"] == 1
        assert await cheap_reads_left(http, url) < BURST - 1 - 5


async def test_an_uncached_status_counts_range_costs_its_queries(
    limited_server: RunningServer,
) -> None:
    analyst = f"analyst-{uuid.uuid4().hex[:6]}"
    token = limited_server.token(Role.STAFF, analyst, scopes=("analytics:read",))
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    counts = "/api/analytics/status-counts"

    def window(days: int) -> dict[str, str]:
        start = hour - timedelta(days=days)
        return {"from": start.isoformat(), "to": hour.isoformat()}

    async with httpx.AsyncClient(
        base_url=limited_server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        assert (await http.get(counts, params=window(1))).status_code == 200  # 28 queries
        refused = await http.get(counts, params=window(2))  # 28 more: not in the bucket
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) >= 1
        assert (await http.get(counts, params=window(1))).status_code == 200  # cached: cheap
