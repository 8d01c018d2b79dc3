"""The template's AWS Backup and ECS services (`tables export --backup/--services`), the image
(Dockerfile), and cfn-lint plus checkov over every option set."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from orderline.adapters.dynamodb.tables import EVERY_TABLE
from orderline.config import Settings
from orderline.ops.provisioning import backup_plan, ecs_services, iam
from orderline.ops.provisioning.cloudformation import (
    ExportOptions,
    dr_vault_template,
    logical_id,
    render,
)

from ..helpers import REPO
from ..helpers.cli import invoke

CHECKOV = Path(sys.executable).with_name("checkov")
REPLICAS = [(), ("us-west-2",)]
BACKUPS = [{"backup": False}, {"backup": True}, {"backup": True, "dr_region": "eu-central-1"}]
# services and the counters Lambda (the two that add compute) are asked for together
LINTED = [
    ExportOptions(replica_regions=r, services=s, counters_lambda=s, **b)  # type: ignore[arg-type]
    for r, b, s in itertools.product(REPLICAS, BACKUPS, [False, True])
]
# what checkov sees, one run for all: the extremes, and the DR region's vault template
CHECKED = {
    "bare": ExportOptions(backup=False),
    "default": ExportOptions(),
    "services": ExportOptions(services=True, dr_region="us-west-2"),
    "everything": ExportOptions(
        replica_regions=("us-west-2", "eu-west-1"),
        pitr=True,
        deletion_protection=True,
        billing="provisioned",
        alarms=True,
        counters_lambda=True,
        services=True,
    ),
}


def _resources(options: ExportOptions) -> dict[str, Any]:
    resources: dict[str, Any] = yaml.safe_load(render(options))["Resources"]
    return resources


def _lint_errors(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    return [str(m) for m in matches if m.rule.id[0] in "EW"]


@pytest.mark.parametrize(
    "options",
    LINTED,
    ids=lambda o: (
        f"{len(o.replica_regions)}replicas-backup{o.backup}{o.dr_region or ''}-services{o.services}"
    ),
)
def test_every_backup_and_services_option_passes_cfn_lint(options: ExportOptions) -> None:
    assert _lint_errors(render(options)) == []


def test_the_dr_vault_template_passes_cfn_lint() -> None:
    text = dr_vault_template(ExportOptions(environment="prod"))
    assert _lint_errors(text) == []
    assert set(yaml.safe_load(text)["Resources"]) == {"BackupVault", "BackupVaultKey"}


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """One checkov run over every option set's template and the Dockerfile."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} missing: checkov is in the dev group (`make setup`)")
    folder = tmp_path_factory.mktemp("checkov")
    for name, options in CHECKED.items():
        (folder / f"{name}.yaml").write_text(render(options))
    (folder / "dr-vault.yaml").write_text(dr_vault_template(ExportOptions()))
    shutil.copy(REPO / "Dockerfile", folder / "Dockerfile")
    command = [str(CHECKOV), "--directory", str(folder), "--output", "json", "--compact"]
    command += ["--framework", "cloudformation", "dockerfile", "--skip-download"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode in (0, 1), finished.stderr[-2000:]  # 1: findings (asserted below)
    report = json.loads(finished.stdout)
    return report if isinstance(report, list) else [report]


def _results(reports: list[dict[str, Any]], framework: str) -> dict[str, Any]:
    (report,) = [r for r in reports if r["check_type"] == framework]
    results: dict[str, Any] = report["results"]
    return results


@pytest.mark.parametrize("framework", ["cloudformation", "dockerfile"])
def test_checkov_finds_nothing(checkov_results: list[dict[str, Any]], framework: str) -> None:
    results = _results(checkov_results, framework)
    failed = [(f["file_path"], f["resource"], f["check_id"]) for f in results["failed_checks"]]
    assert failed == []
    assert results["passed_checks"], "checkov checked nothing"
    if framework == "cloudformation":
        seen = results["passed_checks"] + results["skipped_checks"]
        scanned = {f["file_path"].lstrip("/") for f in seen}
        assert scanned == {f"{name}.yaml" for name in CHECKED} | {"dr-vault.yaml"}


def test_every_check_skipped_in_the_template_says_why(
    checkov_results: list[dict[str, Any]],
) -> None:
    skipped = _results(checkov_results, "cloudformation")["skipped_checks"]
    assert skipped, "the skips in the template were not seen"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]
    ids = {check["check_id"] for check in skipped}
    # the list in docs/deployment.md
    assert ids == {"CKV_AWS_28", "CKV_AWS_119", "CKV_AWS_115", "CKV_AWS_116"} | {
        "CKV_AWS_117",
        "CKV_AWS_173",
    }


def test_backups_are_daily_at_two_utc_kept_30_days_and_copied_to_the_dr_region() -> None:
    resources = _resources(ExportOptions(replica_regions=("us-west-2",)))
    (rule,) = resources["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert rule["Lifecycle"] == {"DeleteAfterDays": 30}
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    (copy,) = rule["CopyActions"]
    assert copy["Lifecycle"] == {"DeleteAfterDays": 30}
    _, parameter, computed = copy["DestinationBackupVaultArn"]["Fn::If"]
    assert parameter == {"Ref": "DrBackupVaultArn"}
    assert (
        ":backup:us-west-2:${AWS::AccountId}:backup-vault:${BackupVaultName}"
        in (computed["Fn::Sub"])
    )  # the first replica region is the DR region unless --dr-region says otherwise
    vault = resources["BackupVault"]["Properties"]
    assert vault["EncryptionKeyArn"] == {"Fn::GetAtt": ["BackupVaultKey", "Arn"]}


def test_the_selection_holds_every_table_of_the_export() -> None:
    resources = _resources(ExportOptions())
    selection = resources["BackupSelection"]["Properties"]["BackupSelection"]
    tables = [{"Fn::GetAtt": [logical_id(spec), "Arn"]} for spec in EVERY_TABLE]
    assert selection["Resources"] == tables
    assert selection["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}
    role = resources["BackupRole"]["Properties"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "backup.amazonaws.com"}
    managed = [arn["Fn::Sub"].rsplit("/", 1)[1] for arn in role["ManagedPolicyArns"]]
    assert managed == list(backup_plan.MANAGED_POLICIES)


def test_without_a_dr_region_backups_stay_home_and_no_backup_means_none() -> None:
    (rule,) = _resources(ExportOptions())["BackupPlan"]["Properties"]["BackupPlan"][
        "BackupPlanRule"
    ]
    assert "CopyActions" not in rule
    explicit = render(ExportOptions(replica_regions=("us-west-2",), dr_region="eu-central-1"))
    assert ":backup:eu-central-1:" in explicit and ":backup:us-west-2:" not in explicit
    assert not any(r.startswith("Backup") for r in _resources(ExportOptions(backup=False)))


def test_the_home_stack_refuses_the_dr_region() -> None:
    rules = yaml.safe_load(render(ExportOptions(dr_region="us-west-2")))["Rules"]
    (assertion,) = rules["BackupCopiesLeaveTheRegion"]["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, "us-west-2"]}]
    }


def test_a_service_per_process_each_with_its_row_of_the_iam_table() -> None:
    resources = _resources(ExportOptions(services=True))
    for kind in ecs_services.KINDS:
        service = resources[f"{kind.title}Service"]["Properties"]
        assert service["LaunchType"] == "FARGATE"
        assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == (
            "DISABLED"
        )
        task = resources[f"{kind.title}TaskDefinition"]["Properties"]
        assert task["TaskRoleArn"] == {"Fn::GetAtt": [f"{kind.title}TaskRole", "Arn"]}
        assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ServiceExecutionRole", "Arn"]}
        (policy,) = resources[f"{kind.title}TaskRole"]["Properties"]["Policies"]
        assert policy["PolicyDocument"] == iam.stack_policy(kind.name)  # `iam-policy --role`
        (container,) = task["ContainerDefinitions"]
        assert {"Name": "ORDERLINE_PROCESS", "Value": kind.name} in container["Environment"]
        assert container["LogConfiguration"]["Options"]["awslogs-group"] == {
            "Ref": f"{kind.title}LogGroup"
        }
    assert resources["ProjectorService"]["Condition"] == "HasKafka"  # no Kafka, no projector
    assert "Condition" not in resources["RelayService"]


def test_task_roles_grant_what_iam_policy_prints() -> None:
    # the stack's form of `orderline iam-policy --role R`: the same actions, statement by statement
    for kind in ecs_services.KINDS:
        printed = iam.policy(kind.name, iam.Target())["Statement"]
        stack = iam.stack_policy(kind.name)["Statement"]
        assert [s["Action"] for s in stack] == [s["Action"] for s in printed]  # type: ignore[index, union-attr]


def test_the_tasks_know_the_replica_regions_their_reads_fail_over_to() -> None:
    for replicas, expected in (((), None), (("us-west-2", "eu-west-1"), "us-west-2,eu-west-1")):
        resources = _resources(ExportOptions(services=True, replica_regions=replicas))
        for kind in ecs_services.KINDS:
            (container,) = resources[f"{kind.title}TaskDefinition"]["Properties"][
                "ContainerDefinitions"
            ]
            found = [
                v["Value"]
                for v in container["Environment"]
                if v.get("Name") == "ORDERLINE_DYNAMODB_REPLICA_REGIONS"
            ]
            assert found == ([expected] if expected else []), kind.name
        aws = "https://dynamodb.us-east-1.amazonaws.com"  # AWS's: replicas need no endpoints
        Settings(dynamodb_endpoint=aws, dynamodb_replica_regions=expected or "").regions()


def test_task_roles_name_the_replica_regions_tables_too() -> None:
    resources = _resources(ExportOptions(services=True, replica_regions=("us-west-2",)))
    for kind in ecs_services.KINDS:
        (document,) = resources[f"{kind.title}TaskRole"]["Properties"]["Policies"]
        arns = [
            arn["Fn::Sub"]
            for statement in document["PolicyDocument"]["Statement"]
            if statement["Resource"] != "*"
            for arn in statement["Resource"]
        ]
        home = [arn for arn in arns if "${AWS::Region}" in arn]
        assert home, kind.name
        replica = {arn.replace("${AWS::Region}", "us-west-2") for arn in home}
        assert replica <= set(arns), kind.name  # every home table, in the replica too


def test_the_task_environments_are_settings_the_processes_read() -> None:
    resources = _resources(ExportOptions(services=True, replica_regions=("us-west-2",)))
    fields = {f"ORDERLINE_{name.upper()}" for name in Settings.model_fields}
    for kind in ecs_services.KINDS:
        (container,) = resources[f"{kind.title}TaskDefinition"]["Properties"][
            "ContainerDefinitions"
        ]
        names = {v["Name"] for v in container["Environment"] if "Name" in v}
        names |= {v["Fn::If"][1]["Name"] for v in container["Environment"] if "Fn::If" in v}
        secrets = {s["Name"] for s in container.get("Secrets", [])}
        assert names - {"ORDERLINE_PROCESS"} <= fields, kind.name  # PROCESS: the entrypoint's
        assert secrets <= fields
        assert ("ORDERLINE_DATABASE_URL" in secrets) == kind.database
    api = resources["ApiTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {s["Name"] for s in api["Secrets"]} == {
        "ORDERLINE_DATABASE_URL",
        "ORDERLINE_CURSOR_SECRET",
    }
    assert {"Name": "ORDERLINE_WORKERS", "Value": "false"} in api["Environment"]


def test_the_api_joins_a_target_group_only_when_one_is_given() -> None:
    service = _resources(ExportOptions(services=True))["ApiService"]["Properties"]
    condition, (target,), _ = service["LoadBalancers"]["Fn::If"]
    assert condition == "HasApiTargetGroup"
    assert target == {
        "ContainerName": "api",
        "ContainerPort": 8000,
        "TargetGroupArn": {"Ref": "ApiTargetGroupArn"},
    }


async def test_the_cli_passes_the_options_through() -> None:
    base = ["tables", "export", "--format", "cloudformation"]
    result = await invoke({}, *base, "--services", "--dr-region", "us-west-2")
    assert result.exit_code == 0, result.output
    resources = yaml.safe_load(result.stdout)["Resources"]
    assert "ApiService" in resources and "BackupPlan" in resources
    assert ":backup:us-west-2:" in result.stdout
    result = await invoke({}, *base, "--no-backup")
    assert "BackupPlan" not in yaml.safe_load(result.stdout)["Resources"]
    result = await invoke({}, *base, "--backup-vault-only", "--env", "prod")
    assert result.exit_code == 0, result.output
    template = yaml.safe_load(result.stdout)
    assert template["Parameters"]["BackupVaultName"]["Default"] == "orderline-prod-backups"
