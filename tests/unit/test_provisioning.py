"""The AWS artefacts generated from the table specs: CloudFormation, IAM, alarms, cost."""

from __future__ import annotations

import asyncio
import itertools
import json
import warnings
from dataclasses import replace
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from orderline.adapters.dynamodb.tables import EVERY_TABLE, ORDER_STATUS, TABLES, Index, TableSpec
from orderline.ops.provisioning import cost, iam
from orderline.ops.provisioning.alarms import with_overrides
from orderline.ops.provisioning.cloudformation import (
    ExportOptions,
    create_request_of,
    logical_id,
    render,
)
from orderline.ops.provisioning.cost_recording import (
    RecordingClient,
    Scenario,
    count_batch,
    representative_events,
)
from orderline.readmodel.projector import Projector

from ..helpers import REPO
from ..helpers.cli import invoke

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns
    from parliament import analyze_policy_string

COMBINATIONS = list(
    itertools.product(
        [(), ("eu-west-1", "ap-southeast-1")],  # replica regions
        [False, True],  # pitr
        [False, True],  # deletion protection
        ["on-demand", "provisioned"],
        [False, True],  # alarms
    )
)
# deploy/ file -> the command that writes it
ARTEFACTS = {
    "deploy/cloudformation/orderline.yaml": [
        "tables", "export", "--format", "cloudformation", "--pitr", "--alarms",
    ],
    **{
        f"deploy/iam/{role}.json": ["iam-policy", "--role", role, "--prefix", "orderline-"]
        for role in iam.ROLES
    },
}  # fmt: skip


def _options(combination: tuple[Any, ...]) -> ExportOptions:
    regions, pitr, protection, billing, alarms = combination
    return ExportOptions(
        replica_regions=regions,
        pitr=pitr,
        deletion_protection=protection,
        billing=billing,
        alarms=alarms,
    )


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: "-".join(map(str, c)))
def test_every_template_passes_cfn_lint(combination: tuple[Any, ...]) -> None:
    matches = lint(render(_options(combination)), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []


def test_the_template_tables_are_the_create_requests_the_code_sends() -> None:
    resources = yaml.safe_load(render(ExportOptions()))["Resources"]
    for spec in TABLES:
        resource = resources[logical_id(spec)]
        assert create_request_of(resource, "p-") == spec.create_request("p-")
        assert ("TimeToLiveSpecification" in resource["Properties"]) == spec.ttl


def test_global_tables_replicate_to_the_stack_region_and_every_replica() -> None:
    options = ExportOptions(replica_regions=("eu-west-1",), pitr=True)
    resources = yaml.safe_load(render(options))["Resources"]
    table = resources[logical_id(ORDER_STATUS)]
    assert table["Type"] == "AWS::DynamoDB::GlobalTable"
    regions = [replica["Region"] for replica in table["Properties"]["Replicas"]]
    assert regions == [{"Ref": "AWS::Region"}, "eu-west-1"]
    assert "ReplicationLatencyEuWest1Alarm" not in "".join(resources)  # alarms not asked
    wanted = ORDER_STATUS.create_request("p-")
    assert (
        create_request_of(table, "p-")["GlobalSecondaryIndexes"] == wanted["GlobalSecondaryIndexes"]
    )


def test_provisioned_billing_scales_every_table_and_index() -> None:
    resources = yaml.safe_load(render(ExportOptions(billing="provisioned")))["Resources"]
    targets = [r for r in resources.values() if r["Type"].endswith("ScalableTarget")]
    units = sum(1 + len(spec.indexes) for spec in EVERY_TABLE)
    assert len(targets) == 2 * units
    policies = [r for r in resources.values() if r["Type"].endswith("ScalingPolicy")]
    assert len(policies) == 2 * units


def test_a_table_added_to_the_spec_list_is_exported_without_code_changes() -> None:
    forum = TableSpec("forum-posts", "threadId", "postId", (Index("ByUser", "userId", "at"),))
    options = ExportOptions(alarms=True, billing="provisioned")
    template = yaml.safe_load(render(options, (*TABLES, forum)))
    exported = create_request_of(template["Resources"]["ForumPostsTable"], "x-")
    assert exported == {**forum.create_request("x-"), "BillingMode": "PROVISIONED"}
    assert "ForumPostsTableByUserReadScalableTarget" in template["Resources"]
    assert "ForumPostsThrottledRequestsAlarm" in template["Resources"]


def test_alarm_thresholds_default_to_the_seeds_and_can_be_overridden() -> None:
    options = ExportOptions(alarms=True, thresholds=with_overrides(["ThrottledRequests=1"]))
    alarm = yaml.safe_load(render(options))["Resources"]["OrderStatusThrottledRequestsAlarm"]
    assert alarm["Properties"]["Threshold"] == 1.0
    assert "seed 002" in alarm["Properties"]["AlarmDescription"]
    with pytest.raises(ValueError, match="METRIC=NUMBER"):
        with_overrides(["Latency=high"])


@pytest.mark.parametrize("role", list(iam.ROLES))
@pytest.mark.parametrize(
    "target", [iam.Target(account="123456789012", region="eu-west-1"), iam.Target()]
)
def test_every_policy_passes_parliament(role: str, target: iam.Target) -> None:
    text = iam.render(role, target)
    # parliament wants a real region in an ARN: lint the placeholder form with one substituted
    text = text.replace("${AWS::Region}", "us-east-1").replace("${AWS::AccountId}", "123456789012")
    findings = analyze_policy_string(text).findings
    assert [(f.issue, f.detail) for f in findings if f.severity not in ("LOW", "INFO")] == []


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else list(resource)


@pytest.mark.parametrize("role", list(iam.ROLES))
def test_policies_name_index_arns_wherever_a_role_queries_an_index(role: str) -> None:
    statements: list[dict[str, Any]] = iam.policy(role, iam.Target())["Statement"]  # type: ignore[assignment]
    queryable = {r for s in statements if "dynamodb:Query" in s["Action"] for r in _resources(s)}
    for grant in iam.ROLES[role]:
        for spec in TABLES:
            covered = grant.tables == iam.ALL_TABLES or spec.name in grant.tables
            if "Query" in grant.operations and grant.indexes and spec.indexes and covered:
                assert iam.Target().table_arn(spec.name) + "/index/*" in queryable


def test_the_api_queries_the_status_indexes() -> None:
    """The listings query CustomerStatusIndex/RestaurantStatusIndex: the classic omission."""
    statements: list[dict[str, Any]] = iam.policy("api", iam.Target())["Statement"]  # type: ignore[assignment]
    index_arn = iam.Target().table_arn(ORDER_STATUS.name) + "/index/*"
    assert any(index_arn in _resources(s) and s["Action"] == ["dynamodb:Query"] for s in statements)


def test_requests_hold_only_the_item_kinds_and_operations_the_policies_grant() -> None:
    """The projector sends no transaction (conditional PutItem, BatchWriteItem); the aggregator's
    transactions hold Update items only."""
    client = RecordingClient()
    asyncio.run(Projector(client, "").project(representative_events(4)))
    entries = [a["Put"]["Item"] for r in client.requests for a in r.actions]
    asyncio.run(count_batch(client, entries[:5], Scenario()))
    kinds = {
        kind for transaction in client.transactions for action in transaction for kind in action
    }
    assert kinds == {"Update"}
    assert set(iam.actions("TransactWriteItems")) >= {"dynamodb:UpdateItem"}
    operations = {
        (r.operation, a[next(iter(a))]["TableName"]) for r in client.requests for a in r.actions
    }
    assert {op for op, table in operations if table == "order-status-log"} == {"BatchWriteItem"}
    assert {op for op, table in operations if table in ("order-status", "order-details")} == {
        "PutItem"
    }
    granted = {
        (operation, table)
        for grant in iam.PROJECTION
        for operation in grant.operations
        for table in grant.tables
    }
    assert {
        pair for pair in operations if not pair[1].startswith(("order-status-metrics", "stream"))
    } <= granted


@pytest.mark.parametrize("path", list(ARTEFACTS))
async def test_deploy_files_are_what_the_commands_generate(path: str) -> None:
    result = await invoke({"ORDERLINE_TABLE_PREFIX": "orderline-"}, *ARTEFACTS[path])
    assert result.exit_code == 0, result.output
    command = "orderline " + " ".join(ARTEFACTS[path])
    assert (REPO / path).read_text() == result.stdout, (
        f"{path} is stale: regenerate it with `.venv/bin/{command} > {path}`"
    )


def test_cost_counts_the_items_the_projector_and_the_aggregator_write() -> None:
    estimate = cost.estimate(cost.Workload(), cost.Prices())
    units = estimate.units_per_order
    # per event, outside transactions (1 unit per KB): status, details, history entry
    assert (units["status"], units["details"], units["history"]) == (5, 5, 5)
    # both GSIs keyed on updatedAt: a put when placed, a delete and a put per change
    assert units["status GSIs"] == 2 * 1 + 2 * 2 * 4
    # the aggregator's counts share items within its batch of 19 records (10 M orders, 1 s poll)
    assert cost.Workload().batch_records == 19
    assert 0 < units["checkpoints"] < 1
    alone = cost.estimate(replace(cost.Workload(), poll_seconds=0.01), cost.Prices())
    assert alone.units_per_order["counters"] > units["counters"]
    assert estimate.write_units == pytest.approx(10_000_000 * sum(units.values()))
    doubled = cost.estimate(cost.Workload(), replace(cost.Prices(), write_per_million=1.25))
    assert doubled.write_cost == pytest.approx(2 * estimate.write_cost)
    assert estimate.total > sum(cost.SEED_001.values())


def test_provisioned_billing_prices_capacity_at_the_target_utilisation() -> None:
    estimate = cost.estimate(cost.Workload(), cost.Prices())
    per_second = estimate.write_units / cost.SECONDS_PER_MONTH
    assert estimate.wcu == pytest.approx(per_second / 0.7)
    assert estimate.provisioned_write_cost == pytest.approx(estimate.wcu * 730 * 0.00065)
    assert estimate.cheaper == ("provisioned", estimate.provisioned_total)
    fuller = cost.estimate(replace(cost.Workload(), target_utilisation=0.9), cost.Prices())
    assert fuller.provisioned_total < estimate.provisioned_total


def test_history_retention_sets_the_history_storage() -> None:
    year = cost.estimate(cost.Workload(), cost.Prices()).storage
    month = cost.estimate(replace(cost.Workload(), history_days=30), cost.Prices()).storage
    assert month.history_gb == pytest.approx(year.history_gb * 30 / 365)
    assert month.current_gb == year.current_gb


async def test_cost_command_prints_the_estimate_beside_seed_001() -> None:
    result = await invoke({}, "cost", "--orders-per-month", "1000000")
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "seed 001" in result.output
    assert "status GSIs" in result.output and "cheaper" in result.output
    provisioned = await invoke({}, "cost", "--billing", "provisioned", "--history-days", "30")
    assert provisioned.exit_code == 0, provisioned.output
    assert "WCU" in provisioned.output and "for 30 days" in provisioned.output


async def test_iam_policy_command_takes_account_and_region() -> None:
    result = await invoke(
        {}, "iam-policy", "--role", "api", "--account", "123456789012", "--region", "eu-west-1"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "arn:aws:dynamodb:eu-west-1:123456789012:table/" in json.dumps(document)


@pytest.mark.parametrize(
    "options",
    [
        ExportOptions(counters_lambda=True),
        ExportOptions(
            counters_lambda=True,
            replica_regions=("eu-west-1",),
            billing="provisioned",
            alarms=True,
            pitr=True,
        ),
    ],
    ids=["tables", "global-provisioned-alarms"],
)
def test_the_counters_lambda_passes_cfn_lint_and_reads_the_history_stream(
    options: ExportOptions,
) -> None:
    text = render(options)
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []
    resources = yaml.safe_load(text)["Resources"]
    mapping = resources["CountersEventSourceMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["OrderStatusLogTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["CountersFailureQueue", "Arn"]
    }
    assert mapping["TumblingWindowInSeconds"] > 0  # so that each event names its shardId
    function = resources["CountersFunction"]["Properties"]
    assert function["Handler"] == "orderline.streams.lambda_handler.handler"
    # the role's DynamoDB statements are the IAM table's `counters-lambda` row
    (dynamodb,) = [
        p["PolicyDocument"]
        for p in resources["CountersFunctionRole"]["Properties"]["Policies"]
        if p["PolicyName"] == "dynamodb"
    ]
    wanted = iam.policy(
        "counters-lambda", iam.Target(prefix="${TablePrefix}", partition="${AWS::Partition}")
    )
    assert [s["Action"] for s in dynamodb["Statement"]] == [
        s["Action"]
        for s in wanted["Statement"]  # type: ignore[index]
    ]


def test_without_the_option_there_is_no_lambda() -> None:
    assert "CountersFunction" not in yaml.safe_load(render(ExportOptions()))["Resources"]
