"""Embedded defaults: a real PostgreSQL (pgserver) and moto's DynamoDB server."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pydantic import SecretStr

from .config import Settings

log = logging.getLogger(__name__)


@contextmanager
def embedded_services(settings: Settings) -> Iterator[Settings]:
    """Start what is not configured; yield settings pointing at what runs; stop it all on exit."""
    with ExitStack() as stack:
        changes: dict[str, object] = {}
        if settings.embedded_postgres:
            url = stack.enter_context(embedded_postgres(settings.data_dir / "postgres"))
            changes["database_url"] = SecretStr(url)
        if settings.embedded_dynamodb:
            changes["dynamodb_endpoint"] = stack.enter_context(embedded_dynamodb())
        yield settings.with_overrides(**changes)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server whose data stays in `data_dir` across restarts."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", data_dir)
    server = pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        log.info("stopping embedded PostgreSQL")
        server.cleanup()


@contextmanager
def embedded_dynamodb(host: str = "127.0.0.1") -> Iterator[str]:
    """moto's DynamoDB server on a free loopback port, in a thread of this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{port}"
    log.info("embedded DynamoDB emulator listening on %s", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()
