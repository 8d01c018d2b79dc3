"""Embedded defaults: a real PostgreSQL (pgserver) and moto's DynamoDB server."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

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
def embedded_dynamodb(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """moto's DynamoDB server on a free loopback port, in a thread of this process."""
    server = EmulatorServer(host, port)
    endpoint = server.start()
    log.info("embedded DynamoDB emulator listening on %s", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


class EmulatorServer:
    """moto's server, answering one request at a time.

    moto applies TransactWriteItems item by item and, on a cancelled transaction, restores a copy
    of the whole table taken before it began; two requests at once can therefore undo each
    other's writes. Serialising requests gives the atomicity DynamoDB guarantees. Its data lives
    in moto's in-process backends, so a stopped server restarted on the same port has it back.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from . import emulator_patch

        emulator_patch.install()
        app = _one_at_a_time(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://{self._host}:{self._port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _one_at_a_time(app: Any) -> Any:
    lock = threading.Lock()

    def serialised(environ: Any, start_response: Any) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serialised
