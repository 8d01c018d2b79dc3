"""The OpenAPI document says exactly what the server enforces, checked by schemathesis.

Schemathesis runs as `schemathesis run --checks all` would, in this process, against a real
server and with a staff token holding every scope (so authorization hides no behaviour):
every check, the examples, coverage, fuzzing and stateful (links) phases, a fixed seed and a
bounded number of examples. Any finding fails the test and is listed with a curl to replay it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import from_schema
from schemathesis.engine.events import EngineEvent, FatalError, NonFatalError, ScenarioFinished

from orderline.entrypoints.api.contract import ETAG_PATTERN

from .conftest import RunningServer

ETAG = re.compile(ETAG_PATTERN)
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


def test_schemathesis_finds_nothing(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(
        f"{server.base_url}/openapi.json", config=_config(server)
    )
    schema.hook("map_case")(_positive_headers)
    findings: list[str] = []
    for event in from_schema(schema).execute():
        findings.extend(_findings(event))
    unique = sorted(set(findings))
    assert not unique, f"{len(unique)} schemathesis findings:\n" + "\n\n".join(unique)


@pytest.fixture
def document(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body
