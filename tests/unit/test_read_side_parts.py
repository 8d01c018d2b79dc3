"""Small read-side parts: codec, envelope checks, relay backoff, metrics hooks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderline.adapters.dynamodb import instrumentation
from orderline.adapters.dynamodb.codec import from_item, to_item
from orderline.readmodel.envelopes import InvalidEnvelope, parse
from orderline.workers.relay import RelayPolicy

from ..helpers.factories import T0, placed_order


def test_codec_round_trips_exact_numbers_and_nested_data() -> None:
    values = {
        "s": "x",
        "n": 3,
        "d": Decimal("12.50"),
        "f": 40.7128,
        "b": True,
        "m": {"l": [1, "a"]},
    }
    decoded = from_item(to_item({**values, "dropped": None}))
    assert decoded == {**values, "f": Decimal("40.7128")}
    assert "dropped" not in decoded


def test_envelopes_are_checked_once_with_a_reason() -> None:
    envelope = placed_order().events[0].envelope()
    assert parse(envelope).order_id == envelope["orderId"]
    with pytest.raises(InvalidEnvelope, match="schemaVersion"):
        parse({**envelope, "schemaVersion": 9})
    with pytest.raises(InvalidEnvelope, match="does not match"):
        parse({**envelope, "version": 2})
    with pytest.raises(InvalidEnvelope, match="malformed"):
        parse({**envelope, "eventId": "not-a-uuid"})
    with pytest.raises(InvalidEnvelope, match="not an object"):
        parse(["list"])
    assert parse(envelope).occurred_at == T0  # the factory's clock is the envelope's occurredAt


def test_relay_backoff_doubles_up_to_its_cap_then_parks() -> None:
    policy = RelayPolicy(max_attempts=5, backoff_seconds=1, backoff_max_seconds=3)
    assert [policy.retry_in(n) for n in range(1, 6)] == [
        timedelta(seconds=1),
        timedelta(seconds=2),
        timedelta(seconds=3),
        timedelta(seconds=3),
        None,
    ]


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_hooks_count_throttled_attempts_and_capacity() -> None:
    model = SimpleNamespace(
        name="GetItem", input_shape=SimpleNamespace(members={"ReturnConsumedCapacity": 1})
    )
    context: dict[str, Any] = {}
    params: dict[str, Any] = {"TableName": "hooks-table"}
    instrumentation._before(params=params, model=model, context=context)
    assert params["ReturnConsumedCapacity"] == "TOTAL"
    throttled = (None, {"Error": {"Code": "ProvisionedThroughputExceededException"}})
    instrumentation._on_attempt(throttled, model, {"context": context})
    labels = {"operation": "GetItem", "table": "hooks-table"}
    assert _sample("orderline_dynamodb_throttled_attempts_total", labels) == 1
    response = SimpleNamespace(status_code=200)
    parsed = {"ConsumedCapacity": {"CapacityUnits": 0.5}}
    instrumentation._after(http_response=response, parsed=parsed, model=model, context=context)
    assert _sample("orderline_dynamodb_consumed_capacity_units_total", labels) == 0.5
    assert _sample("orderline_dynamodb_calls_total", {**labels, "outcome": "ok"}) == 1
    instrumentation._after_error(
        exception=ConnectionError("refused"),
        context=context,
        event_name="after-call-error.dynamodb.GetItem",
    )
    assert _sample("orderline_dynamodb_calls_total", {**labels, "outcome": "ConnectionError"}) == 1
