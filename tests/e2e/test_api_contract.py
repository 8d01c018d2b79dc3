"""The OpenAPI document says exactly what the server enforces, checked by schemathesis.

Schemathesis runs as `schemathesis run --checks all` would, in this process, against a real
server and with a staff token holding every scope (so authorization hides no behaviour):
every check, the examples, coverage, fuzzing and stateful (links) phases, a fixed seed and a
bounded number of examples. Any finding fails the test and is listed with a curl to replay it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

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

from orderline.entrypoints.api import contract

from ..helpers.server import RunningServer

ETAG = re.compile(contract.ETAG_PATTERN)
KEYS = itertools.count()

SEED = 20260115
MAX_EXAMPLES = 25
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# positive_data_acceptance: what a schema-valid request may still get. Schemathesis's default,
# plus, per operation, the refusals a JSON Schema cannot rule out, each documented on it:
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
SEMANTIC_REFUSALS = {
    # a well-formed cursor the server did not sign (only `nextCursor` is one it did)
    400: (
        "GET /api/orders",
        "GET /api/orders/{order_id}/history",
        "GET /api/customers/{customer_id}/orders",
        "GET /api/restaurants/{restaurant_id}/orders",
    ),
    # a well-formed If-Match naming a version the order no longer has
    412: (
        "PATCH /api/orders/{order_id}",
        "DELETE /api/orders/{order_id}",
        "POST /api/orders/{order_id}/status",
    ),
    # `from` after `to` or more than 31 days before it (one parameter against another), or
    # metadata over 4096 bytes serialised
    422: (
        "GET /api/analytics/status-counts",
        "GET /api/restaurants/{restaurant_id}/status-counts",
        "POST /api/orders/{order_id}/status",
    ),
}


def _operations() -> list[dict[str, Any]]:
    extra: dict[str, list[str]] = {}
    for status, names in SEMANTIC_REFUSALS.items():
        for name in names:
            extra.setdefault(name, []).append(str(status))
    operations: list[dict[str, Any]] = [
        {
            "include-name": name,
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + statuses}},
        }
        for name, statuses in extra.items()
    ]
    # A deleted order's history stays readable on purpose (its last entry is OrderDeleted).
    operations.append(
        {
            "include-name": "GET /api/orders/{order_id}/history",
            "checks": {"use_after_free": {"enabled": False}},
        }
    )
    return operations


def _config(server: RunningServer) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": server.base_url,
            "headers": server.admin_headers(),
            "workers": 1,
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": True},
            "phases": {phase: {"enabled": True} for phase in PHASES},
            "operations": _operations(),
        }
    )


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


def _positive_headers(
    context: schemathesis.HookContext, case: schemathesis.Case
) -> schemathesis.Case:
    """Two adjustments to schema-valid cases, neither of which makes one invalid:

    - schemathesis's coverage phase gives a header whose pattern holds a `"` the *positive*
      value `0`, which violates that pattern (`If-Match: 0` then looks like a wrongly refused
      valid request): such a value becomes a valid ETag;
    - an `Idempotency-Key` is made unique, since a reused key with another body is refused by
      design (422; tests/e2e/test_orders_api.py covers that), which no schema can express.
    """
    headers = case.headers
    if not headers or case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if "if-match" in headers and not ETAG.fullmatch(str(headers["if-match"])):
        headers["if-match"] = '"1"'
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = f"contract-{next(KEYS)}"
    return case


# The order API. Server-sent event streams never end (a fuzzer waits for each one to time
# out), and the forum has its own validation tests (tests/e2e/test_forum_*.py); both are left
# out of the fuzzing run, not out of the document: the checks on the document below cover them.
NOT_FUZZED = r"^/api/forum|/events$|^/dashboard"


def test_schemathesis_finds_nothing(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(
        f"{server.base_url}/openapi.json", config=_config(server)
    ).exclude(path_regex=NOT_FUZZED)
    schema.hook("map_case")(_positive_headers)
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
    assert item["unitPrice"]["type"] == "string"
    assert item["unitPrice"]["pattern"] == contract.MONEY_IN_PATTERN
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
