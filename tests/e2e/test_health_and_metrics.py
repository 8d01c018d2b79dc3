from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from orderline.bootstrap import Profile, bootstrap
from orderline.config import Settings
from orderline.entrypoints.api.app import create_app

from ..helpers.server import RunningServer, serve_in_thread


async def test_ready_reports_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"postgres", "dynamodb"}
    assert all(
        check["status"] == "up" and check["latencyMs"] >= 0 for check in body["checks"].values()
    )
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/orders/00000000-0000-0000-0000-000000000000")
    text = (await client.get("/metrics")).text
    assert (
        'orderline_http_requests_total{method="GET",route="/api/orders/{order_id}",status="404"}'
        in text
    )
    assert "orderline_http_request_duration_seconds_bucket" in text


async def test_metrics_record_every_dynamodb_call(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    await client.get("/api/orders/00000000-0000-4000-8000-000000000000/status")  # a GetItem
    text = (await client.get("/metrics")).text
    table = f"{server.settings.table_prefix}order-status"
    assert (
        f'orderline_dynamodb_calls_total{{operation="GetItem",outcome="ok",table="{table}"}}'
        in text
    )
    assert (
        f'orderline_dynamodb_call_duration_seconds_count{{operation="GetItem",table="{table}"}}'
        in text
    )
    assert (
        f'orderline_dynamodb_consumed_capacity_units_total{{operation="GetItem",table="{table}"}}'
        in text
    )
    assert 'orderline_reads_total{result="miss",tier="dynamodb",view="status"}' in text


@pytest.fixture(scope="module")
def server_without_postgres(server: RunningServer) -> Iterator[str]:
    """A server whose PostgreSQL went away after start-up (nothing listens on port 1)."""
    settings = Settings(
        database_url=SecretStr("postgresql://postgres@127.0.0.1:1/none"),
        dynamodb_endpoint=server.settings.dynamodb_endpoint,
        data_dir=server.settings.data_dir,
        auth=False,  # about an outage, not about authorization
    )
    app = create_app(settings, lambda: bootstrap(settings, profile=Profile.TOOL))
    yield from serve_in_thread(app)


async def test_ready_is_503_and_writes_are_503_when_postgres_is_down(
    server_without_postgres: str,
) -> None:
    async with httpx.AsyncClient(base_url=server_without_postgres, timeout=30) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"]["status"] == "down"
        assert ready.json()["checks"]["dynamodb"]["status"] == "up"
        write = await client.post(
            "/api/orders/00000000-0000-0000-0000-000000000001/status",
            json={"status": "CONFIRMED"},
        )
        assert write.status_code == 503, write.text
        assert write.headers["content-type"].startswith("application/problem+json")
        assert write.headers["retry-after"] == "1"


def _list_tables_calls() -> float:
    labels = {"operation": "ListTables", "outcome": "ok", "table": "-"}
    return REGISTRY.get_sample_value("orderline_dynamodb_calls_total", labels) or 0.0


async def test_ready_answers_from_a_short_cache(client: httpx.AsyncClient) -> None:
    """Finding 9: an open endpoint that pinged both databases on every call; now a burst of
    probes costs at most one round of pings."""
    before = _list_tables_calls()
    answers = [await client.get("/health/ready") for _ in range(5)]
    assert all(answer.status_code == 200 for answer in answers)
    assert _list_tables_calls() - before <= 1


async def test_ready_tells_no_internals(server_without_postgres: str) -> None:
    """Finding 9: the exception text (hosts, ports, driver messages) stays in the log."""
    async with httpx.AsyncClient(base_url=server_without_postgres, timeout=30) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    for check in ready.json()["checks"].values():
        assert set(check) == {"status", "latencyMs"}, check
    assert "127.0.0.1" not in ready.text and "connect" not in ready.text.lower()
