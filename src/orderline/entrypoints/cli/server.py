"""Socket and uvicorn plumbing of `orderline serve`: the listener, signals, the server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import uvicorn

from orderline.bootstrap import Container
from orderline.config import Settings

from .common import fail, start_container

log = logging.getLogger("orderline")


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve_api` owns SIGINT/SIGTERM. Live streams
    are ended first at shutdown (a final event with a `retry:` hint), or uvicorn would wait for
    them forever before its lifespan shutdown."""

    def __init__(
        self, config: uvicorn.Config, before_shutdown: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._before_shutdown is not None:
            self._before_shutdown()
        await super().shutdown(sockets)


async def serve_api(settings: Settings, listener: socket.socket) -> bool:
    """Build the container (a failing dependency is one line, exit 2), then serve until a
    signal; return whether the server started."""
    async with AsyncExitStack() as stack:
        container = await start_container(stack, settings)
        server = ApiServer(
            _uvicorn_config(settings, container),
            container.live.shutdown if container.live is not None else None,
        )
        _stop_on_signals(server)
        log.info("Orderline on http://%s:%d (API docs at /docs)", settings.host, settings.port)
        await server.serve(sockets=[listener])
        return server.started
    raise AssertionError("unreachable")  # pragma: no cover - the stack never swallows


def _uvicorn_config(settings: Settings, container: Container) -> uvicorn.Config:
    from orderline.entrypoints.api.app import create_app

    @asynccontextmanager
    async def built() -> AsyncIterator[Container]:
        yield container

    app: Any = create_app(settings, built)
    if settings.bench_endpoints:
        from orderline.entrypoints.api.bench_endpoints import add_bench_endpoints

        app = add_bench_endpoints(app)
    return uvicorn_config(settings, app)


def uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    """How `serve` runs `app` under uvicorn. X-Forwarded-* headers count only from the
    configured proxies (ORDERLINE_TRUSTED_PROXIES; uvicorn would trust loopback by default),
    so the client address (loopback-only docs and metrics, the failed-authentication limit)
    is the socket's peer unless a trusted proxy says otherwise."""
    from orderline.entrypoints.api.http_protocol import ProblemHttpToolsProtocol

    proxies = [entry.strip() for entry in settings.trusted_proxies.split(",") if entry.strip()]
    return uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        lifespan="on",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        http=ProblemHttpToolsProtocol,  # the parser's own refusals as problem+json too
    )


def _stop_on_signals(server: uvicorn.Server) -> None:
    def stop(signum: signal.Signals) -> None:
        # A second Ctrl-C forces the exit; a repeated SIGTERM (make forwards its own) does not.
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)


def listen(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything starts (a busy port is one line)."""
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
        fail(f"listening on {host}:{port} {reason}; stop the other process or set ORDERLINE_PORT")
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener
