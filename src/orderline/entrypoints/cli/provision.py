"""Provisioning on AWS from the table specs: CloudFormation, IAM policies, drift, cost."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from orderline.bootstrap import open_dynamodb
from orderline.config import Settings
from orderline.ops.provisioning import cost, drift, iam
from orderline.ops.provisioning.alarms import with_overrides
from orderline.ops.provisioning.cloudformation import (
    Capacity,
    ExportOptions,
    dr_vault_template,
    render,
)

from .app import app, tables_app
from .common import fail, load_settings, services


class Format(StrEnum):
    cloudformation = "cloudformation"


class Billing(StrEnum):
    on_demand = "on-demand"
    provisioned = "provisioned"


Role = StrEnum("Role", {name: name for name in iam.ROLES})  # type: ignore[misc]


@tables_app.command("export")
def tables_export(
    format_: Annotated[Format, typer.Option("--format", help="Only cloudformation.")],
    env: Annotated[str, typer.Option("--env", help="Environment: tag, prefix default.")] = "",
    replica_regions: Annotated[
        str, typer.Option(help="Comma-separated: global tables with these replicas.")
    ] = "",
    pitr: Annotated[bool, typer.Option("--pitr", help="Point-in-time recovery.")] = False,
    deletion_protection: Annotated[bool, typer.Option("--deletion-protection")] = False,
    billing: Annotated[Billing, typer.Option(help="on-demand or provisioned.")] = Billing.on_demand,
    alarms: Annotated[bool, typer.Option("--alarms", help="Add CloudWatch alarms.")] = False,
    alarm_threshold: Annotated[
        list[str] | None,
        typer.Option(help="METRIC=VALUE over the seeds' default (repeatable)."),
    ] = None,
    min_capacity: Annotated[int, typer.Option(help="Provisioned: lowest units.")] = 5,
    max_capacity: Annotated[int, typer.Option(help="Provisioned: highest units.")] = 100,
    counters_lambda: Annotated[
        bool,
        typer.Option(
            "--counters-lambda",
            help="Add the counter aggregator as a Lambda on the history stream (its role, "
            "event source mapping and failure queue).",
        ),
    ] = False,
    backup: Annotated[
        bool,
        typer.Option(
            "--backup/--no-backup",
            help="AWS Backup: vault, daily 02:00 UTC plan kept 30 days, every table, role.",
        ),
    ] = True,
    dr_region: Annotated[
        str | None,
        typer.Option(help="Copy backups to this region's vault (default: first replica)."),
    ] = None,
    backup_vault_only: Annotated[
        bool,
        typer.Option(
            "--backup-vault-only",
            help="Print only the backup vault's template, for the stack in the DR region.",
        ),
    ] = False,
    services: Annotated[
        bool,
        typer.Option(
            "--services", help="Add ECS Fargate services: api, relay, projector, aggregator."
        ),
    ] = False,
) -> None:
    """Print a CloudFormation template (YAML) for every read-model table; no DynamoDB needed.

    Example: orderline tables export --format cloudformation --env prod --pitr --alarms --replica-regions us-west-2 --services
    """  # noqa: E501
    try:
        thresholds = with_overrides(alarm_threshold or [])
    except ValueError as exc:
        fail(str(exc))
    if min_capacity < 1 or max_capacity < min_capacity:
        fail("--min-capacity must be at least 1 and at most --max-capacity")
    options = ExportOptions(
        environment=env,
        replica_regions=tuple(r.strip() for r in replica_regions.split(",") if r.strip()),
        pitr=pitr,
        deletion_protection=deletion_protection,
        billing="provisioned" if billing is Billing.provisioned else "on-demand",
        alarms=alarms,
        thresholds=thresholds,
        capacity=Capacity(minimum=min_capacity, maximum=max_capacity),
        counters_lambda=counters_lambda,
        backup=backup,
        dr_region=dr_region or None,
        services=services,
    )
    typer.echo((dr_vault_template if backup_vault_only else render)(options), nl=False)


@tables_app.command("diff")
def tables_diff(
    pitr: Annotated[
        bool | None,
        typer.Option("--pitr/--no-pitr", help="Also expect PITR on (or off); unchecked if unset."),
    ] = None,
) -> None:
    """Compare the live tables with the specs; exit 1 on drift, 0 when none.

    Example: ORDERLINE_DYNAMODB_ENDPOINT=http://localhost:8001 orderline tables diff
    """
    with services(load_settings(), postgres=False, dynamodb=True) as settings:
        report = asyncio.run(_diff(settings, pitr))
    for note in report.notes:
        typer.echo(f"note: {note}")
    for difference in report.drifts:
        typer.echo(difference)
    if report.drifted:
        raise typer.Exit(1)
    typer.echo(f"no drift: {report.checked} tables match the spec")


async def _diff(settings: Settings, pitr: bool | None) -> drift.DriftReport:
    async with open_dynamodb(settings) as client:
        return await drift.diff_tables(client, settings.table_prefix, pitr=pitr)


@app.command("iam-policy")
def iam_policy(
    role: Annotated[Role, typer.Option(help="The process the policy is for.")],
    account: Annotated[str, typer.Option(help="Account id.")] = "${AWS::AccountId}",
    region: Annotated[str, typer.Option(help="Region.")] = "${AWS::Region}",
    prefix: Annotated[
        str | None, typer.Option(help="Table prefix [default: ORDERLINE_TABLE_PREFIX].")
    ] = None,
) -> None:
    """Print the least-privilege IAM policy (JSON) of one process's DynamoDB calls.

    Example: orderline iam-policy --role api --account 123456789012 --region eu-west-1
    """
    table_prefix = prefix if prefix is not None else load_settings().table_prefix
    target = iam.Target(account=account, region=region, prefix=table_prefix)
    typer.echo(iam.render(str(role.value), target), nl=False)


@app.command("cost")
def cost_command(
    orders_per_month: Annotated[int, typer.Option(min=0)] = 10_000_000,
    reads_per_order: Annotated[float, typer.Option(min=0)] = 3.0,
    status_changes_per_order: Annotated[int, typer.Option(min=0, max=4)] = 4,
    cache_hit_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.80,
    replica_regions: Annotated[int, typer.Option(min=0, help="Replicas (global tables).")] = 0,
    restaurants: Annotated[int, typer.Option(min=1, help="Restaurants the orders spread over.")] = (
        1_000
    ),
    poll_seconds: Annotated[
        float, typer.Option(min=0.01, help="The aggregator's poll of each stream shard.")
    ] = 1.0,
    stream_shards: Annotated[
        int, typer.Option(min=1, help="History stream shards (one per table partition).")
    ] = 1,
    history_days: Annotated[
        int | None, typer.Option(min=1, help="History retention, days (default: the TTL setting).")
    ] = None,
    billing: Annotated[Billing, typer.Option(help="Which bill to detail.")] = Billing.on_demand,
    target_utilisation: Annotated[float, typer.Option(min=0.1, max=1.0)] = 0.7,
    price_write_per_million: Annotated[float, typer.Option(min=0)] = 0.625,
    price_read_per_million: Annotated[float, typer.Option(min=0)] = 0.125,
    price_storage_gb_month: Annotated[float, typer.Option(min=0)] = 0.25,
    price_wcu_hour: Annotated[float, typer.Option(min=0)] = 0.00065,
    price_rcu_hour: Annotated[float, typer.Option(min=0)] = 0.00013,
) -> None:
    """Estimate the monthly DynamoDB bill (on demand and provisioned) from the items Orderline
    really writes; prints the write units per order by item kind and the cheaper billing.

    Example: orderline cost --orders-per-month 10000000 --billing provisioned --history-days 30
    """
    settings = load_settings()
    workload = cost.Workload(
        orders_per_month=orders_per_month,
        reads_per_order=reads_per_order,
        status_changes_per_order=status_changes_per_order,
        cache_hit_rate=cache_hit_rate,
        replica_regions=replica_regions,
        counter_shards=settings.counter_shards,
        restaurants=restaurants,
        poll_seconds=poll_seconds,
        stream_shards=stream_shards,
        history_days=history_days or settings.history_ttl_days,
        status_hours=settings.read_model_ttl_hours,
        target_utilisation=target_utilisation,
    )
    prices = cost.Prices(
        price_write_per_million,
        price_read_per_million,
        price_storage_gb_month,
        price_wcu_hour,
        price_rcu_hour,
    )
    for line in _cost_lines(cost.estimate(workload, prices), workload, billing):
        typer.echo(line)


def _cost_lines(estimate: cost.Estimate, workload: cost.Workload, billing: Billing) -> list[str]:
    sizes = ", ".join(f"{table} {size} B" for table, size in estimate.sizes.items())
    units = estimate.units_per_order
    storage, seed = estimate.storage, cost.SEED_001
    cheaper, cheapest = estimate.cheaper
    lines = [
        f"per order: {estimate.items_per_order:.1f} item writes ({sizes})",
        f"aggregator batch: {workload.batch_records} records ({workload.events_per_second:.1f} "
        f"events/s, {workload.poll_seconds:g} s poll, {workload.stream_shards} stream shard(s)), "
        f"{workload.restaurants:,} restaurants",
        "write units per order by item kind:",
        *(f"  {kind:<12} {value:>6.1f}" for kind, value in units.items()),
        f"  {'total':<12} {sum(units.values()):>6.1f}",
    ]
    if billing is Billing.provisioned:
        lines += [
            f"writes   {estimate.wcu:>12,.1f} WCU       ${estimate.provisioned_write_cost:>10,.2f}"
            f"  (provisioned at {estimate.target_utilisation:.0%} utilisation)",
            f"reads    {estimate.rcu:>12,.1f} RCU       ${estimate.provisioned_read_cost:>10,.2f}",
        ]
    else:
        lines += [
            f"writes   {estimate.write_units / 1e6:>12,.1f} M WRU     "
            f"${estimate.write_cost:>10,.2f}",
            f"reads    {estimate.read_units / 1e6:>12,.1f} M RRU     ${estimate.read_cost:>10,.2f}"
            f"  ({workload.cache_hit_rate:.0%} from the cache)",
        ]
    total = estimate.provisioned_total if billing is Billing.provisioned else estimate.total
    return [
        *lines,
        f"storage  {storage.total_gb:>12,.1f} GB        ${estimate.storage_cost:>10,.2f}"
        f"  (history {storage.history_gb:,.1f} GB for {workload.history_days} days, counters "
        f"{storage.counters_gb:,.1f} GB, current {storage.current_gb:,.1f} GB)",
        f"total                          ${total:>10,.2f} per month ({billing.value})",
        f"on demand ${estimate.total:,.2f}, provisioned ${estimate.provisioned_total:,.2f}: "
        f"cheaper {cheaper} at ${cheapest:,.2f} per month",
        f"seed 001 (10 M orders): ${seed['reads'] + seed['writes'] + seed['storage']:.2f} "
        f"DynamoDB + ${seed['dax']:.2f} DAX; docs/deployment.md explains the difference",
    ]
