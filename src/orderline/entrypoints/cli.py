"""The `orderline` command: serve the API, show the configuration, migrate the database."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import prometheus_client
import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.dynamodb.admin import delete_tables, describe_tables, ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.kafka import replay_dead_letters
from orderline.adapters.postgres import outbox
from orderline.adapters.postgres.engine import build_engine
from orderline.adapters.postgres.migrate import current_revision, upgrade
from orderline.bootstrap import (
    bootstrap,
    build_projector,
    build_reconciler,
    kafka_topics,
    with_replay_default,
)
from orderline.config import Settings
from orderline.embedded import embedded_postgres, embedded_services
from orderline.readmodel import rebuild
from orderline.readmodel.rebuild import ReplayResult
from orderline.workers.runner import run_until_stopped

app = typer.Typer(
    help="Orderline: order service with a PostgreSQL write model and DynamoDB reads.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Write-model database (PostgreSQL) operations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
tables_app = typer.Typer(help="Read-model tables (DynamoDB) operations.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
outbox_app = typer.Typer(
    help="The outbox: what the relay still has to publish.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")
log = logging.getLogger("orderline")
T = TypeVar("T")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [ORDERLINE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [ORDERLINE_PORT].")] = None,
    workers: Annotated[
        bool | None,
        typer.Option(
            "--workers/--no-workers",
            help="Run the relay (and with Kafka the projector) inside the API [ORDERLINE_WORKERS].",
        ),
    ] = None,
) -> None:
    """Start the HTTP API; starts embedded PostgreSQL and DynamoDB when none are configured."""
    settings = _settings()
    settings = settings.with_overrides(
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.workers if workers is None else workers,
    )
    _configure_logging(settings)
    listener = _listen(settings.host, settings.port)
    with embedded_services(settings) as resolved:
        log.info("PostgreSQL: %s; DynamoDB: %s", *_describe(settings, resolved))
        started = _run_service(_serve(with_replay_default(settings, resolved), listener))
    if not started:
        raise typer.Exit(1)


MetricsPort = Annotated[
    int | None, typer.Option(help="Serve /metrics on this port [ORDERLINE_METRICS_PORT].")
]


@app.command()
def relay(metrics_port: MetricsPort = None) -> None:
    """Publish the outbox (to Kafka, or straight into DynamoDB without Kafka) until SIGTERM."""
    settings = _external_settings("relay")
    with_dynamodb = settings.kafka_bootstrap_servers is None  # the in-process bus projects
    _run_worker(settings, metrics_port, relay=True, project=False, with_dynamodb=with_dynamodb)


@app.command()
def project(metrics_port: MetricsPort = None) -> None:
    """Consume the Kafka topic into DynamoDB in the projectors' consumer group until SIGTERM."""
    settings = _external_settings("project")
    if settings.kafka_bootstrap_servers is None:
        typer.echo(
            "error: `project` consumes Kafka; set ORDERLINE_KAFKA_BOOTSTRAP_SERVERS", err=True
        )
        raise typer.Exit(2)
    _run_worker(settings, metrics_port, relay=False, project=True, with_dynamodb=True)


def _external_settings(command: str) -> Settings:
    settings = _settings()
    if settings.embedded_postgres or settings.embedded_dynamodb:
        typer.echo(
            f"error: `{command}` runs beside an API that uses the same PostgreSQL and DynamoDB; "
            "set ORDERLINE_DATABASE_URL and ORDERLINE_DYNAMODB_ENDPOINT",
            err=True,
        )
        raise typer.Exit(2)
    _configure_logging(settings)
    return settings


def _run_worker(
    settings: Settings,
    metrics_port: int | None,
    *,
    relay: bool,
    project: bool,
    with_dynamodb: bool,
) -> None:
    port = settings.metrics_port if metrics_port is None else metrics_port
    if port:
        prometheus_client.start_http_server(port, addr=settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, port)
    _run_service(_work(settings, relay=relay, project=project, with_dynamodb=with_dynamodb))


async def _work(settings: Settings, *, relay: bool, project: bool, with_dynamodb: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with bootstrap(settings, with_dynamodb=with_dynamodb) as container:
        loops = container.worker_loops(relay=relay, project=project)
        log.info("running %s", ", ".join(loop.__qualname__ for loop in loops))
        await run_until_stopped(loops, stop)
    log.info("stopped")


@app.command("config")
def show_config() -> None:
    """Print the effective configuration, secrets masked."""
    for name, value in _settings().masked().items():
        typer.echo(f"ORDERLINE_{name.upper():<26} {value}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (uses the embedded PostgreSQL when none is configured)."""
    settings = _settings()
    _configure_logging(settings)
    with _database_url(settings) as url:
        revision = asyncio.run(_upgrade(url))
    typer.echo(f"database at revision {revision}")


@tables_app.command("create")
def tables_create() -> None:
    """Create missing tables, wait until ACTIVE, enable TTL (safe to repeat)."""
    created = asyncio.run(_with_dynamodb(_dynamodb_settings(), ensure_tables))
    typer.echo(f"created: {', '.join(created)}" if created else "all tables exist")


@tables_app.command("describe")
def tables_describe() -> None:
    """Show each table's status, item count, indexes, stream and TTL."""
    for state in asyncio.run(_with_dynamodb(_dynamodb_settings(), describe_tables)):
        if isinstance(state, str):
            typer.echo(f"{state}: missing")
        else:
            typer.echo(
                f"{state.name}: {state.status}, ~{state.items} items, "
                f"indexes [{', '.join(state.indexes)}], stream {state.stream or 'off'}, "
                f"ttl {state.ttl}"
            )


@tables_app.command("delete")
def tables_delete(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the read model is lost.")] = False,
) -> None:
    """Delete every read-model table of the prefix (rebuildable from the outbox)."""
    if not yes:
        typer.echo("error: this deletes the read-model tables; pass --yes to confirm", err=True)
        raise typer.Exit(2)
    deleted = asyncio.run(_with_dynamodb(_dynamodb_settings(), delete_tables))
    typer.echo(f"deleted: {', '.join(deleted)}" if deleted else "no tables to delete")


@outbox_app.command("status")
def outbox_status() -> None:
    """Backlog, age of the oldest unpublished event, parked and published rows."""
    settings = _settings()
    with _database_url(settings) as url:
        stats = asyncio.run(_with_engine(url, outbox.stats))
    age = "-"
    if stats.oldest_unpublished is not None:
        age = f"{(datetime.now(UTC) - stats.oldest_unpublished).total_seconds():.1f}s"
    typer.echo(f"backlog:            {stats.backlog}")
    typer.echo(f"oldest unpublished: {age}")
    typer.echo(f"parked:             {stats.parked}")
    typer.echo(f"published:          {stats.published}")


@outbox_app.command("retry-parked")
def outbox_retry_parked() -> None:
    """Put parked rows back in line (after fixing what made them fail)."""
    settings = _settings()
    with _database_url(settings) as url:
        count = asyncio.run(_with_engine(url, outbox.retry_parked))
    typer.echo(f"{count} parked rows queued again")


@app.command("replay-dead-letters")
def replay_dead_letters_command(
    from_offset: Annotated[
        int,
        typer.Option(min=0, help="First dead-letter offset to replay (the last run prints it)."),
    ] = 0,
) -> None:
    """Put dead-lettered events back on the Kafka event topic (after fixing their cause)."""
    settings = _settings()
    if settings.kafka_bootstrap_servers is None:
        typer.echo("error: set ORDERLINE_KAFKA_BOOTSTRAP_SERVERS", err=True)
        raise typer.Exit(2)
    topics = kafka_topics(settings)
    done = asyncio.run(replay_dead_letters(topics, from_offset=from_offset))
    typer.echo(
        f"{done.moved} dead-lettered events put back on {topics.topic}; "
        f"next time: --from-offset {done.next_offset}"
    )


@app.command()
def replay(
    prefix: Annotated[
        str | None,
        typer.Option(help="Rebuild into tables with this prefix (created when missing)."),
    ] = None,
) -> None:
    """Rebuild the read model from every event in the outbox (duplicates are no-ops)."""
    settings = _dynamodb_settings()
    target = settings.table_prefix if prefix is None else prefix
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,200}", target):
        typer.echo(f"error: invalid table prefix {target!r}", err=True)
        raise typer.Exit(2)
    with _database_url(settings) as url:
        result = asyncio.run(_replay(settings, url, target))
    typer.echo(
        f"replayed {result.events} events into {target}*: {result.applied} applied, "
        f"{result.duplicates} already there, {result.rejected} rejected"
    )
    if result.rejected:
        raise typer.Exit(1)


@app.command()
def reconcile(
    repair: Annotated[
        bool, typer.Option("--repair", help="Overwrite drifted items with PostgreSQL's state.")
    ] = False,
) -> None:
    """Compare every order in PostgreSQL with the read model; report drift by kind."""
    settings = _dynamodb_settings()
    with _database_url(settings) as url:
        report = asyncio.run(_reconcile(settings, url, repair))
    typer.echo(f"checked {report.orders} orders: {len(report.drifts)} drifted items")
    for kind, count in sorted(report.by_kind.items()):
        typer.echo(f"  {kind}: {count}")
    for drift in report.drifts[:20]:
        typer.echo(f"  {drift.order_id} {drift.table} {drift.kind}: {drift.detail}")
    if repair:
        typer.echo(f"repaired {report.repaired} items")
    elif report.drifts:
        raise typer.Exit(1)


async def _with_engine(url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = build_engine(url, pool_size=2)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


async def _replay(settings: Settings, url: str, prefix: str) -> ReplayResult:
    engine = build_engine(url, pool_size=2)
    try:
        async with dynamodb_client(settings) as client:
            await ensure_tables(client, prefix)
            projector = build_projector(client, settings, prefix)
            total = await outbox.count(engine)
            with typer.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
                events = outbox.PostgresEventLog(engine)
                return await rebuild.replay(events, projector, progress=bar.update)
    finally:
        await engine.dispose()


async def _reconcile(settings: Settings, url: str, repair: bool) -> rebuild.ReconcileReport:
    engine = build_engine(url, pool_size=2)
    try:
        async with dynamodb_client(settings) as client:
            return await build_reconciler(settings, engine, client).run(repair=repair)
    finally:
        await engine.dispose()


def _dynamodb_settings() -> Settings:
    settings = _settings()
    if settings.embedded_dynamodb:
        typer.echo(
            "error: the embedded emulator lives inside `orderline serve`; "
            "set ORDERLINE_DYNAMODB_ENDPOINT",
            err=True,
        )
        raise typer.Exit(2)
    return settings


async def _with_dynamodb(settings: Settings, action: Callable[[Any, str], Awaitable[T]]) -> T:
    async with dynamodb_client(settings) as client:
        return await action(client, settings.table_prefix)


async def _upgrade(url: str) -> str | None:
    engine = build_engine(url, pool_size=1)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _database_url(settings: Settings) -> Iterator[str]:
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
    else:
        with embedded_postgres(settings.data_dir / "postgres") as url:
            yield url


def _run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process on uvloop where it is installed: cheaper sockets and timers."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop has no Windows build
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `_serve` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(settings: Settings, listener: socket.socket) -> bool:
    from orderline.entrypoints.api.app import create_app

    app: Any = create_app(settings)
    if settings.bench_endpoints:
        from orderline.entrypoints.api.floors import add_floors

        app = add_floors(app)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        lifespan="on",
    )
    server = _Server(config)

    def stop(signum: signal.Signals) -> None:
        # A second Ctrl-C forces the exit; a repeated SIGTERM (make forwards its own) does not.
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    log.info("Orderline on http://%s:%d (API docs at /docs)", settings.host, settings.port)
    await server.serve(sockets=[listener])
    return server.started


def _describe(configured: Settings, resolved: Settings) -> tuple[str, str]:
    postgres = (
        f"embedded, data in {configured.data_dir}" if configured.embedded_postgres else "configured"
    )
    dynamodb = (
        f"embedded emulator at {resolved.dynamodb_endpoint}"
        if configured.embedded_dynamodb
        else f"{resolved.dynamodb_endpoint}"
    )
    return postgres, dynamodb


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
    # without it every keep-alive response waits ~40 ms for the client's delayed ACK (Nagle).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc.strerror}"
        typer.echo(
            f"error: listening on {host}:{port} {reason}; "
            "stop the other process or set ORDERLINE_PORT",
            err=True,
        )
        raise typer.Exit(2) from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:
        typer.echo(f"error: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("werkzeug", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
