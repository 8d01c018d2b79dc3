"""Worker processes: `relay`, `project`, `aggregate`, and `replay-dead-letters` for the Kafka
topics."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from typing import Annotated

import prometheus_client
import typer

from orderline.adapters.kafka import replay_dead_letters
from orderline.bootstrap import Profile, kafka_topics, open_aggregator
from orderline.config import Settings
from orderline.startup import explain
from orderline.workers.runner import run_until_stopped

from .app import app
from .common import configure_logging, fail, load_settings, run_service, start_container

log = logging.getLogger("orderline")

MetricsPort = Annotated[
    int | None, typer.Option(help="Serve /metrics on this port [ORDERLINE_METRICS_PORT].")
]


@app.command()
def relay(metrics_port: MetricsPort = None) -> None:
    """Publish the outbox (to Kafka, or straight into DynamoDB without Kafka) until SIGTERM.

    Example: ORDERLINE_DATABASE_URL=postgresql://db/orders ORDERLINE_DYNAMODB_ENDPOINT=http://localhost:8001 orderline relay --metrics-port 9101
    """  # noqa: E501
    _run_worker(_external_settings("relay"), metrics_port, Profile.RELAY)


@app.command()
def project(metrics_port: MetricsPort = None) -> None:
    """Consume the Kafka topic into DynamoDB in the projectors' consumer group until SIGTERM.

    Example: ORDERLINE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 orderline project --metrics-port 9102
    """
    settings = _external_settings("project")
    if settings.kafka_bootstrap_servers is None:
        fail("`project` consumes Kafka; set ORDERLINE_KAFKA_BOOTSTRAP_SERVERS")
    _run_worker(settings, metrics_port, Profile.PROJECTOR)


@app.command()
def aggregate(metrics_port: MetricsPort = None) -> None:
    """Count the status counters and gauges from the history table's stream until SIGTERM.

    Needs DynamoDB only. Any number may run: each shard of the stream is read by one of them at
    a time (leases), and a batch is counted once even when two read it.

    Example: ORDERLINE_DYNAMODB_ENDPOINT=http://localhost:8001 orderline aggregate --metrics-port 9103
    """  # noqa: E501
    settings = load_settings()
    if settings.embedded_dynamodb:
        fail(
            "`aggregate` reads the stream of the DynamoDB the API writes to; set "
            "ORDERLINE_DYNAMODB_ENDPOINT (`serve` counts by itself with its embedded emulator)"
        )
    configure_logging(settings)
    _serve_metrics(settings, metrics_port)
    run_service(_aggregate(settings))


async def _aggregate(settings: Settings) -> None:
    stop = _stop_on_signals()
    try:
        async with open_aggregator(settings) as consumer:
            log.info("counting the counters from the history stream (reader %s)", consumer.owner)
            await run_until_stopped([consumer.run], stop)
    except Exception as exc:
        message = explain(exc, settings)
        if message is None:
            raise
        fail(message)
    log.info("stopped")


@app.command("replay-dead-letters")
def replay_dead_letters_command(
    from_offset: Annotated[
        int,
        typer.Option(min=0, help="First dead-letter offset to replay (the last run prints it)."),
    ] = 0,
) -> None:
    """Put dead-lettered events back on the Kafka event topic (after fixing their cause).

    Example: orderline replay-dead-letters --from-offset 120
    """
    settings = load_settings()
    if settings.kafka_bootstrap_servers is None:
        fail("set ORDERLINE_KAFKA_BOOTSTRAP_SERVERS")
    topics = kafka_topics(settings)
    done = asyncio.run(replay_dead_letters(topics, from_offset=from_offset))
    typer.echo(
        f"{done.moved} dead-lettered events put back on {topics.topic}; "
        f"next time: --from-offset {done.next_offset}"
    )


def _external_settings(command: str) -> Settings:
    settings = load_settings()
    if settings.embedded_postgres or settings.embedded_dynamodb:
        fail(
            f"`{command}` runs beside an API that uses the same PostgreSQL and DynamoDB; "
            "set ORDERLINE_DATABASE_URL and ORDERLINE_DYNAMODB_ENDPOINT"
        )
    configure_logging(settings)
    return settings


def _run_worker(settings: Settings, metrics_port: int | None, profile: Profile) -> None:
    _serve_metrics(settings, metrics_port)
    run_service(_work(settings, profile))


def _serve_metrics(settings: Settings, metrics_port: int | None) -> None:
    port = settings.metrics_port if metrics_port is None else metrics_port
    if port:
        prometheus_client.start_http_server(port, addr=settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, port)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _work(settings: Settings, profile: Profile) -> None:
    stop = _stop_on_signals()
    async with AsyncExitStack() as stack:
        container = await start_container(stack, settings, profile)
        loops = container.worker_loops()
        log.info("running %s", ", ".join(loop.__qualname__ for loop in loops))
        await run_until_stopped(loops, stop)
    log.info("stopped")
