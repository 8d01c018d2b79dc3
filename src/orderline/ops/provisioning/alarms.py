"""CloudWatch alarms for the exported tables; default thresholds come from the seeds.

ThrottledRequests, SystemErrors and SuccessfulRequestLatency are reported per table *and*
operation, so each table's alarm sums (or, for latency, takes the maximum of) the operations
Orderline issues on it, as read from `iam.ROLES`. UserErrors exists only per account and region:
one alarm. ReplicationLatency is per table and receiving region (global tables only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from orderline.adapters.dynamodb.tables import TableSpec

from . import iam

CONTROL_PLANE = frozenset(
    {"CreateTable", "DeleteTable", "DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive"}
    | {"DescribeContinuousBackups", "ListTables"}
)
TOPIC_CONDITION = "HasAlarmTopic"


@dataclass(frozen=True)
class Threshold:
    """One alarm's rule: statistic over `period` seconds, breached `evaluation_periods` times."""

    statistic: str
    threshold: float
    period: int = 60
    evaluation_periods: int = 1
    comparison: str = "GreaterThanThreshold"
    source: str = ""


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "ThrottledRequests": Threshold("Sum", 10, 60, 1, source="seed 002: > 10 in 60 s"),
    "SystemErrors": Threshold("Sum", 0, 60, 1, source="seed 002 lists it, no value: any"),
    "UserErrors": Threshold("Sum", 10, 600, 1, source="seed 004: > 10 in 10 minutes"),
    "SuccessfulRequestLatency": Threshold(
        "Average", 10, 60, 5, source="seed 001: > 10 ms (5 minutes running, not one spike)"
    ),
    "ReplicationLatency": Threshold(
        "Average", 1000, 60, 5, source="seed 004: replication < 1 second"
    ),
}


def with_overrides(overrides: Sequence[str]) -> dict[str, Threshold]:
    """`Metric=value` strings applied over the defaults (e.g. `ThrottledRequests=1`)."""
    thresholds = dict(DEFAULT_THRESHOLDS)
    for override in overrides:
        metric, _, value = override.partition("=")
        if metric not in thresholds or not re.fullmatch(r"\d+(\.\d+)?", value):
            raise ValueError(
                f"{override!r}: expected METRIC=NUMBER, METRIC one of {', '.join(thresholds)}"
            )
        thresholds[metric] = replace(thresholds[metric], threshold=float(value))
    return thresholds


def alarm_resources(
    specs: Sequence[TableSpec], thresholds: dict[str, Threshold], replica_regions: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The alarm resources and the template conditions they use."""
    resources: dict[str, Any] = {
        "UserErrorsAlarm": _alarm(
            "${TablePrefix}UserErrors",
            "DynamoDB requests refused as invalid (HTTP 400), account and region wide",
            thresholds["UserErrors"],
            [_metric("m0", "UserErrors", [], thresholds["UserErrors"], True)],
        )
    }
    for spec in specs:
        operations = sorted(_data_operations(spec))
        for metric, reduce in (
            ("ThrottledRequests", "SUM"),
            ("SystemErrors", "SUM"),
            ("SuccessfulRequestLatency", "MAX"),
        ):
            queries = _per_operation(spec, metric, operations, thresholds[metric], reduce)
            resources[_id(spec, metric)] = _alarm(
                f"${{TablePrefix}}{spec.name}-{metric}",
                f"{metric} on {spec.name} ({reduce.lower()} over {', '.join(operations)})",
                thresholds[metric],
                queries,
            )
        for region in replica_regions:
            rule = thresholds["ReplicationLatency"]
            dimensions = [_table_dimension(spec), {"Name": "ReceivingRegion", "Value": region}]
            resources[_id(spec, "ReplicationLatency" + _region_id(region))] = _alarm(
                f"${{TablePrefix}}{spec.name}-ReplicationLatency-{region}",
                f"replication of {spec.name} to {region}",
                rule,
                [_metric("m0", "ReplicationLatency", dimensions, rule, True)],
            )
    conditions = {TOPIC_CONDITION: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}}
    return resources, conditions


def _data_operations(spec: TableSpec) -> set[str]:
    """Every data-plane operation any role issues on this table."""
    operations: set[str] = set()
    for role in iam.ROLES:
        operations |= iam.granted(role, [spec]).get(spec.name, set())
    return operations - CONTROL_PLANE


def _per_operation(
    spec: TableSpec, metric: str, operations: list[str], rule: Threshold, reduce: str
) -> list[dict[str, Any]]:
    queries = [
        _metric(
            f"m{number}",
            metric,
            [_table_dimension(spec), {"Name": "Operation", "Value": operation}],
            rule,
            False,
        )
        for number, operation in enumerate(operations)
    ]
    expression = {"Id": "total", "Expression": f"{reduce}(METRICS())", "Label": metric}
    return [*queries, {**expression, "ReturnData": True}]


def _metric(
    query_id: str, name: str, dimensions: list[dict[str, Any]], rule: Threshold, returned: bool
) -> dict[str, Any]:
    metric: dict[str, Any] = {"Namespace": "AWS/DynamoDB", "MetricName": name}
    if dimensions:
        metric["Dimensions"] = dimensions
    stat = {"Metric": metric, "Period": rule.period, "Stat": rule.statistic}
    return {"Id": query_id, "MetricStat": stat, "ReturnData": returned}


def _alarm(name: str, description: str, rule: Threshold, queries: list[Any]) -> dict[str, Any]:
    actions = {"Fn::If": [TOPIC_CONDITION, [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": name},
            "AlarmDescription": f"{description}; threshold from {rule.source}",
            "ComparisonOperator": rule.comparison,
            "Threshold": rule.threshold,
            "EvaluationPeriods": rule.evaluation_periods,
            "TreatMissingData": "notBreaching",
            "Metrics": queries,
            "AlarmActions": actions,
        },
    }


def _table_dimension(spec: TableSpec) -> dict[str, Any]:
    return {"Name": "TableName", "Value": {"Fn::Sub": f"${{TablePrefix}}{spec.name}"}}


def _id(spec: TableSpec, metric: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", spec.name)
    return "".join(word.capitalize() for word in words) + metric + "Alarm"


def _region_id(region: str) -> str:
    return "".join(part.capitalize() for part in region.split("-"))
