"""botocore event hooks that turn every DynamoDB call into Prometheus samples.

One call is measured from parameter building to its final response, so client-side retries are
inside the latency; each throttled attempt is counted on its own.
"""

from __future__ import annotations

import time
from typing import Any

from orderline import metrics

from .protocol import DynamoDBClient, DynamoDBStreamsClient

THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
    }
)
_STARTED = "orderline_started"
_TABLE = "orderline_table"


def instrument(client: DynamoDBClient | DynamoDBStreamsClient) -> None:
    """Register the hooks on one client, DynamoDB or DynamoDB Streams (aiobotocore awaits or
    calls them alike)."""
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()  # dynamodb, dynamodb-streams
    events.register(f"before-parameter-build.{service}", _before)
    events.register(f"needs-retry.{service}", _on_attempt)
    events.register(f"after-call.{service}", _after)
    events.register(f"after-call-error.{service}", _after_error)


def table_of(params: dict[str, Any]) -> str:
    """The table a call addresses; multi-table calls are named by their first table. A
    Streams call is named by the table of its stream (iterators start with the stream ARN)."""
    stream = params.get("StreamArn") or params.get("ShardIterator")
    if isinstance(stream, str) and ":table/" in stream:
        return stream.split(":table/", 1)[1].split("/", 1)[0]
    if "TableName" in params:
        return str(params["TableName"])
    if params.get("RequestItems"):
        return str(next(iter(params["RequestItems"])))
    for action in params.get("TransactItems") or ():
        for body in action.values():
            return str(body.get("TableName", "-"))
    return "-"


def _before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    context[_STARTED] = time.perf_counter()
    context[_TABLE] = table_of(params)
    if "ReturnConsumedCapacity" in model.input_shape.members:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


def _on_attempt(response: Any, operation: Any, request_dict: Any, **_: Any) -> None:
    if response is None:
        return
    code = response[1].get("Error", {}).get("Code")
    if code in THROTTLE_CODES:
        table = request_dict.get("context", {}).get(_TABLE, "-")
        metrics.DYNAMODB_THROTTLES.labels(operation.name, table).inc()


def _after(
    http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
) -> None:
    outcome = (
        "ok" if http_response.status_code < 300 else parsed.get("Error", {}).get("Code", "error")
    )
    table = _finish(model.name, context, outcome)
    capacity = parsed.get("ConsumedCapacity")
    units = _capacity_units(capacity)
    if units:
        metrics.DYNAMODB_CAPACITY.labels(model.name, table).inc(units)


def _after_error(exception: BaseException, context: dict[str, Any], **kwargs: Any) -> None:
    event_name = kwargs.get("event_name", "")
    operation = event_name.rsplit(".", 1)[-1] if event_name else "-"
    _finish(operation, context, type(exception).__name__)


def _finish(operation: str, context: dict[str, Any], outcome: str) -> str:
    table = context.get(_TABLE, "-")
    started = context.get(_STARTED)
    if started is not None:
        metrics.DYNAMODB_LATENCY.labels(operation, table).observe(time.perf_counter() - started)
    metrics.DYNAMODB_CALLS.labels(operation, table, outcome).inc()
    return str(table)


def _capacity_units(capacity: Any) -> float:
    if isinstance(capacity, dict):
        return float(capacity.get("CapacityUnits", 0))
    if isinstance(capacity, list):
        return sum(float(entry.get("CapacityUnits", 0)) for entry in capacity)
    return 0.0
