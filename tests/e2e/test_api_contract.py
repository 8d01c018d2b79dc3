"""The OpenAPI document says exactly what the server enforces, checked by schemathesis.

Schemathesis runs as `schemathesis run --checks all` does from the repository, with its
configuration (schemathesis.toml: the refusals no schema can express, and its hooks), in this
process, against a real server, once with a staff token holding every scope and once with a
customer's: every check, the examples, coverage, fuzzing and stateful (links) phases, every
operation (the forum and the event streams included), a fixed seed and a bounded number of
examples. Any finding fails the test and is listed with a curl to replay it.
"""

from __future__ import annotations

import socket
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from schemathesis.engine import from_schema
from schemathesis.engine.events import (
    EngineEvent,
    FatalError,
    NonFatalError,
    PhaseFinished,
    PhaseStarted,
    ScenarioFinished,
)

from orderline.domain.access import Role
from orderline.entrypoints.api import contract
from orderline.entrypoints.api.http_protocol import MAX_URL_BYTES
from orderline.forum import model as forum

from ..helpers.server import Headers, RunningServer

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260115
MAX_EXAMPLES = 10
PHASES = ("examples", "coverage", "fuzzing", "stateful")
CUSTOMER = "123e4567-e89b-12d3-a456-426614174000"


def _config(server: RunningServer, headers: Headers) -> schemathesis.Config:
    """schemathesis.toml, as the CLI reads it, plus this run's server, token and bounds."""
    data: dict[str, Any] = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    data["hooks"] = str(ROOT / data["hooks"])
    data["checks"] = {**data.get("checks", {}), "enabled": True}  # --checks all
    data.update(
        {
            "seed": SEED,
            "base-url": server.base_url,
            "headers": headers,
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {phase: {"enabled": True} for phase in PHASES},
        }
    )
    return schemathesis.Config.from_dict(data)


def _findings(event: EngineEvent) -> list[str]:
    """What one engine event found wrong, as readable lines (empty when nothing)."""
    if isinstance(event, FatalError):
        return [f"fatal: {event.exception!r}"]
    if isinstance(event, NonFatalError):
        return [f"error in {event.label}: {event.value!r}"]
    if not isinstance(event, ScenarioFinished):
        return []
    found = []
    for case_id, checks in event.recorder.checks.items():
        interaction = event.recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        answer = f"{response.status_code} {response.text[:300]}" if response else "no response"
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"[{event.phase}] {check.name} on {failure.operation}: {failure.title}\n"
                    f"  {failure.message}\n  answer: {answer}\n  {check.failure_info.code_sample}"
                )
    return found


@pytest.mark.parametrize("role", [Role.STAFF, Role.CUSTOMER])
def test_schemathesis_finds_nothing(server: RunningServer, role: Role) -> None:
    headers = server.admin_headers() if role is Role.STAFF else server.headers(role, CUSTOMER)
    schema = schemathesis.openapi.from_url(
        f"{server.base_url}/openapi.json", config=_config(server, headers)
    )
    findings: list[str] = []
    phases: dict[str, str] = {}
    for event in from_schema(schema).execute():
        findings.extend(_findings(event))
        if isinstance(event, PhaseFinished):
            phases[event.phase.name.value] = event.status.value
        if isinstance(event, PhaseStarted) and event.payload is not None:
            phases["stateful transitions"] = str(event.payload.transitions_selected)
    unique = sorted(set(findings))
    assert not unique, f"{len(unique)} schemathesis findings:\n" + "\n\n".join(unique)
    assert all(phases.get(phase) == "success" for phase in PHASES), phases
    assert int(phases["stateful transitions"]) > 0, phases


@pytest.fixture
def document(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _parameter(document: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    operation = document["paths"][path][method]
    found: dict[str, Any] = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def test_the_document_declares_what_the_server_enforces(document: dict[str, Any]) -> None:
    order_id = _parameter(document, "get", "/api/orders/{order_id}", "order_id")["schema"]
    assert order_id["format"] == "uuid" and order_id["pattern"] == contract.UUID_PATTERN
    item = document["components"]["schemas"]["ItemIn"]["properties"]
    as_string, as_number = item["unitPrice"]["anyOf"]  # seed 001 sends a JSON number
    assert as_string["type"] == "string" and as_string["pattern"] == contract.MONEY_IN_PATTERN
    assert as_number == {"type": "number", "minimum": 0, "maximum": 100000, "multipleOf": 0.01}
    order_out = document["components"]["schemas"]["OrderOut"]["properties"]
    assert order_out["totalAmount"]["pattern"] == contract.MONEY_OUT_PATTERN
    if_match = _parameter(document, "patch", "/api/orders/{order_id}", "if-match")["schema"]
    assert if_match["pattern"] == contract.ETAG_PATTERN and "anyOf" not in if_match
    key = _parameter(document, "post", "/api/orders", "Idempotency-Key")["schema"]
    assert key["pattern"] == contract.IDEMPOTENCY_KEY_PATTERN
    for method, path in (("get", "/api/orders"), ("get", "/api/orders/{order_id}/history")):
        assert _parameter(document, method, path, "cursor")["schema"]["pattern"] == (
            contract.CURSOR_PATTERN
        )
    ids = _parameter(document, "get", "/api/orders/status", "ids")["schema"]
    assert ids["pattern"] == contract.IDS_PATTERN
    assert (
        _parameter(document, "get", "/api/orders/{order_id}", "minVersion")["schema"]["minimum"]
        == 1
    )
    counts = "/api/analytics/status-counts"
    to = _parameter(document, "get", counts, "to")["schema"]
    assert to["format"] == "date-time" and to["pattern"] == contract.DATE_TIME_PATTERN
    assert "31 days" in _parameter(document, "get", counts, "from")["description"]
    assert "before `to`" in _parameter(document, "get", counts, "from")["description"]


FORUM_LISTINGS = (
    "/api/forum/threads",
    "/api/forum/threads/{thread_id}/posts",
    "/api/forum/users/{user_id}/posts",
)
STREAMS = (
    "/api/events",
    "/api/orders/{order_id}/events",
    "/api/restaurants/{restaurant_id}/events",
)


def test_the_document_declares_cursors_event_ids_and_text(document: dict[str, Any]) -> None:
    for path in FORUM_LISTINGS:
        cursor = _parameter(document, "get", path, "cursor")["schema"]
        assert cursor["pattern"] == contract.CURSOR_PATTERN, path
    for path in STREAMS:
        last_event_id = _parameter(document, "get", path, "Last-Event-ID")["schema"]
        assert last_event_id["pattern"] == contract.LAST_EVENT_ID_PATTERN, path
    thread = document["components"]["schemas"]["ThreadIn"]["properties"]
    assert thread["title"]["pattern"] == contract.TEXT_PATTERN == forum.TEXT_PATTERN


def test_every_refusal_is_declared_as_problem_json(document: dict[str, Any]) -> None:
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "413", "414"} <= set(responses), (method, path)
            for code, response in responses.items():
                if code[0] in "45":
                    assert response["content"] == {"application/problem+json": problem}, (
                        method,
                        path,
                        code,
                    )
    for path in STREAMS:
        events = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert events["text/event-stream"]["schema"]["type"] == "object", path


def _raw_request(server: RunningServer, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes as they are (no client would send these) and read the whole answer."""
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, body


@pytest.mark.parametrize(
    ("target", "status"),
    [
        # a URL over the app's limit, and one over what the HTTP parser can read (64 KiB)
        ("/api/orders/status?ids=" + "%E7%A9%A3" * (MAX_URL_BYTES // 9 + 1), 414),
        ("/api/orders/status?ids=" + "a" * 70_000, 414),
    ],
)
def test_a_url_too_long_is_a_problem(server: RunningServer, target: str, status: int) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    line, headers, body = _raw_request(server, request)
    assert line.startswith(f"HTTP/1.1 {status} "), line
    assert headers["content-type"] == "application/problem+json"
    assert httpx.Response(status, content=body).json()["status"] == status


def test_an_unreadable_request_is_a_problem(server: RunningServer) -> None:
    line, headers, body = _raw_request(server, b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n")
    assert line.startswith("HTTP/1.1 400 "), line
    assert headers["content-type"] == "application/problem+json"
    problem = httpx.Response(400, content=body).json()
    assert problem["status"] == 400 and problem["title"] == "Bad Request"


def test_a_long_url_within_the_limit_reaches_the_app(server: RunningServer) -> None:
    target = "/api/orders/status?ids=" + "a" * (MAX_URL_BYTES - 100)
    response = httpx.get(f"{server.base_url}{target}", headers=server.admin_headers(), timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.ids"


def test_every_operation_names_who_may_call_it(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security"):
                assert path.startswith("/health"), (method, path)
                continue
            assert "x-required-scopes" in operation, (method, path)
            assert "**Access:**" in operation["description"], (method, path)
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
    delete = document["paths"]["/api/orders/{order_id}"]["delete"]
    assert delete["x-required-scopes"] == ["orders:admin"] and delete["x-roles"] == []
    counts = document["paths"]["/api/analytics/status-counts"]["get"]
    assert counts["security"] == [{"HTTPBearer": ["analytics:read"]}]
    metrics = document["paths"]["/metrics"]["get"]
    assert metrics["security"] == [{}, {"HTTPBearer": ["metrics:read"]}]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_the_server_refuses_what_the_document_refuses(client: httpx.AsyncClient) -> None:
    counts = "/api/analytics/status-counts"
    for to in ("0.5", "0", "1700000000", "2026-11-22T10:00:00"):
        response = await client.get(counts, params={"to": to})
        assert response.status_code == 422, (to, response.text)
        assert response.json()["errors"][0]["field"] == "query.to"
    assert (await client.get(counts, params={"to": "2026-11-22T10:00:00Z"})).status_code == 200
    for order_id in ("123e4567e89b12d3a456426614174000", "{123e4567-e89b-12d3-a456-426614174000}"):
        assert (await client.get(f"/api/orders/{order_id}")).status_code == 422, order_id
    ids = "urn:uuid:123e4567-e89b-12d3-a456-426614174000"
    assert (await client.get("/api/orders/status", params={"ids": ids})).status_code == 422


async def test_undeclared_methods_are_405_with_allow(client: httpx.AsyncClient) -> None:
    cases = [
        ("OPTIONS", "/api/orders", "GET, POST"),
        ("PUT", "/api/orders", "GET, POST"),
        ("HEAD", "/api/orders", "GET, POST"),
        ("OPTIONS", f"/api/orders/{uuid.uuid4()}", "DELETE, GET, PATCH"),
        ("PATCH", "/api/orders/status", "GET"),
        ("DELETE", "/health", "GET"),
    ]
    for method, path, allow in cases:
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allow, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.request("OPTIONS", "/api/nowhere")).status_code == 404
