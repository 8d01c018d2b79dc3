"""`orderline serve`: the API, with embedded services when none are configured."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from orderline.bootstrap import aggregates, with_replay_default
from orderline.config import Settings
from orderline.embedded import embedded_services
from orderline.service_registry import RunningServices, registered

from .app import app
from .common import configure_logging, load_settings, run_service
from .server import listen, serve_api

log = logging.getLogger("orderline")


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
    """Start the HTTP API; starts embedded PostgreSQL and DynamoDB when none are configured.

    While it runs, other `orderline` commands on the same data dir find its embedded services.

    Example: orderline serve --port 8000
    """
    settings = load_settings()
    settings = settings.with_overrides(
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.workers if workers is None else workers,
    )
    configure_logging(settings)
    listener = listen(settings.host, settings.port)
    with embedded_services(settings) as resolved:
        log.info("PostgreSQL: %s; DynamoDB: %s", *_describe(settings, resolved))
        resolved = with_replay_default(settings, resolved)
        if resolved.workers and not aggregates(resolved):
            log.info(
                "status counters are not counted here (ORDERLINE_AGGREGATE): run "
                "`orderline aggregate` or the Lambda of `tables export --counters-lambda`"
            )
        with registered(settings.data_dir, _embedded_of(settings, resolved)):
            started = run_service(serve_api(resolved, listener))
    if not started:
        raise typer.Exit(1)


def _embedded_of(configured: Settings, resolved: Settings) -> RunningServices:
    """What this process runs for others: the embedded services' addresses (None: configured)."""
    database_url = None
    if configured.embedded_postgres and resolved.database_url is not None:
        database_url = resolved.database_url.get_secret_value()
    return RunningServices(
        pid=os.getpid(),
        api=f"http://{resolved.host}:{resolved.port}",
        database_url=database_url,
        dynamodb_endpoint=resolved.dynamodb_endpoint if configured.embedded_dynamodb else None,
    )


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
