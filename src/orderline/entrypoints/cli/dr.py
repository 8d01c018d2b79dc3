"""`orderline dr …`: the DynamoDB regions' state, and a disaster-recovery drill."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import typer
from rich.console import Console
from rich.table import Table

from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.dynamodb.regions import RegionalClient
from orderline.bootstrap import open_dynamodb, open_regions
from orderline.config import Settings
from orderline.ops.dr.drill import Drill, DrillPolicy, DrillReport
from orderline.ops.dr.status import REPLICATED, Status, status
from orderline.regions import Region

from .app import app
from .common import configure_logging, fail, load_settings, progress_bar, services

dr_app = typer.Typer(
    help="Disaster recovery across DynamoDB regions: status and drills.", no_args_is_help=True
)
app.add_typer(dr_app, name="dr")
PHASES = 3  # warm, cut, home back


@dr_app.command("status")
def dr_status(
    wait: float = typer.Option(
        30.0, min=0.1, max=600, help="Seconds to wait for the canary in each replica."
    ),
) -> None:
    """Per table and region: status, replicas (as DescribeTable reports them) and item counts;
    per replica: the replication lag of a canary written in the home region.

    Example: ORDERLINE_DYNAMODB_REPLICA_REGIONS=us-west-2 orderline dr status --wait 10
    """
    settings = load_settings()
    configure_logging(settings)
    with services(settings, postgres=False, dynamodb=True) as resolved:
        result = asyncio.run(_status(resolved, wait))
    console = Console()
    console.print(_tables_view(result, resolved.table_prefix))
    lags = ", ".join(
        f"{lag.region} {lag.seconds:.3f} s"
        if lag.seconds is not None
        else f"{lag.region} > {wait} s"
        for lag in result.lags
    )
    typer.echo(f"replication lag (canary): {lags or 'no replica regions configured'}")
    if any(lag.seconds is None for lag in result.lags):
        raise typer.Exit(1)


async def _status(settings: Settings, wait: float) -> Status:
    async with _regional(settings) as regional:
        clients = [(_region(settings, link.name), link.client) for link in regional.links]
        steps = len(REPLICATED) * len(clients) + 1
        with progress_bar("checking tables and canary", steps) as advance:
            return await status(clients, settings.table_prefix, wait=wait, step=lambda: advance(1))


def _tables_view(result: Status, prefix: str) -> Table:
    table = Table("table", "region", "status", "replicas", "items", title=f"prefix {prefix!r}")
    for state in result.tables:
        table.add_row(state.table, state.region, state.status, state.replicas, state.items)
    return table


@dr_app.command("drill")
def dr_drill(
    rto: float = typer.Option(5.0, min=0, help="Fail (exit 1) when the RTO exceeds these seconds."),
    rpo: float = typer.Option(1.0, min=0, help="Fail (exit 1) when the RPO exceeds these seconds."),
    rate: float = typer.Option(20.0, min=1, max=1000, help="Canaries written per second."),
    warm: float = typer.Option(2.0, min=0.1, max=600, help="Seconds of canaries before the cut."),
    cut: float = typer.Option(3.0, min=0.1, max=600, help="Seconds the home region stays out."),
) -> None:
    """Take the home region out for this process and measure the failover.

    RTO: from the cut to the first read a replica answers. RPO: of the canaries the home region
    acknowledged before the cut, the age of the oldest one the first replica still lacked
    (and how many). Only this process loses the home region: nothing else is touched.

    Example: orderline dr drill --rto 5 --rpo 1
    """
    settings = load_settings()
    configure_logging(settings)
    if not settings.regions().replicas:
        fail("no replica region: set ORDERLINE_DYNAMODB_REPLICA_REGIONS (and endpoints)")
    policy = DrillPolicy(rate=rate, warm_seconds=warm, cut_seconds=cut, timeout=max(30.0, cut * 3))
    with services(settings, postgres=False, dynamodb=True) as resolved:
        report = asyncio.run(_drill(resolved, policy))
    Console().print(_report_view(report))
    passed = report.rto_seconds is not None and report.rto_seconds <= rto
    passed = passed and report.rpo_seconds <= rpo
    verdict = "passed" if passed else "FAILED"
    typer.echo(
        f"drill {verdict}: RTO {_seconds(report.rto_seconds)} (limit {rto} s), "
        f"RPO {report.rpo_seconds:.3f} s (limit {rpo} s), {report.reads_failed} failed reads"
    )
    if not passed:
        raise typer.Exit(1)


async def _drill(settings: Settings, policy: DrillPolicy) -> DrillReport:
    async with AsyncExitStack() as stack:
        regional = await stack.enter_async_context(_regional(settings))
        dead = Region(settings.aws_region, f"http://127.0.0.1:{_closed_port()}")
        unreachable = await stack.enter_async_context(dynamodb_client(settings, dead))
        drill = Drill(regional, unreachable, settings.table_prefix, policy)
        with progress_bar("drill: warm, cut, home back", PHASES) as advance:
            return await drill.run(_phase(advance))


def _phase(advance: Callable[[int], None]) -> Callable[[str], None]:
    return lambda _name: advance(1)


def _report_view(report: DrillReport) -> Table:
    table = Table("measure", "value", title=f"DR drill: home {report.home}")
    rows = [
        ("replicas (in order)", ", ".join(report.replicas)),
        ("canaries before the cut", str(report.canaries_before)),
        ("missing in the replica at the cut", _missing(report)),
        ("RPO (oldest missing canary's age)", f"{report.rpo_seconds:.3f} s"),
        ("RTO (cut -> first replica read)", _seconds(report.rto_seconds)),
        ("answered by", report.answered_by or "-"),
        ("reads ok / failed", f"{report.reads_ok} / {report.reads_failed}"),
        ("writes refused while home was out", str(report.writes_refused)),
        ("home back (restore -> home read)", _seconds(report.home_back_seconds)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _missing(report: DrillReport) -> str:
    return ", ".join(f"{region}: {count}" for region, count in report.missing_by_region.items())


def _seconds(value: float | None) -> str:
    return f"{value:.3f} s" if value is not None else "not reached"


def _region(settings: Settings, name: str) -> Region:
    return next(region for region in settings.regions().all if region.name == name)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def _regional(settings: Settings) -> AsyncIterator[RegionalClient]:
    async with open_dynamodb(settings) as home, open_regions(settings, home) as regional:
        yield regional
