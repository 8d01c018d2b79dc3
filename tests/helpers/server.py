"""A real uvicorn serving the app from a thread of the test process, and what a test needs to
talk to it (its URL, settings, and tokens it accepts)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from orderline.bootstrap import dev_signer
from orderline.config import Settings
from orderline.domain.access import Role
from orderline.entrypoints.api.http_protocol import ProblemHttpToolsProtocol

from .cli import CliEnv


@dataclass
class RunningServer:
    base_url: str
    schema: str
    settings: Settings

    def token(
        self,
        role: Role,
        subject: str,
        *,
        restaurant: str | None = None,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int = 3600,
        email: str | None = None,
    ) -> str:
        """A bearer token this server accepts (signed with its data dir's key)."""
        return dev_signer(self.settings).issue(
            subject,
            role,
            restaurant_id=restaurant,
            scopes=scopes,
            ttl_seconds=ttl_seconds,
            email=email,
        )

    def headers(self, role: Role = Role.STAFF, subject: str = "staff-1", **claims: Any) -> Headers:
        return {"Authorization": f"Bearer {self.token(role, subject, **claims)}"}

    def admin_headers(self) -> Headers:
        """Staff with every scope: what the tests that are not about authorization use."""
        return self.headers(scopes=ADMIN_SCOPES)

    def cli_env(self) -> CliEnv:
        """The environment of `orderline` commands beside this server: its data dir (the
        signing key of its tokens), its DynamoDB and its table prefix."""
        return CliEnv(
            ORDERLINE_DATA_DIR=str(self.settings.data_dir),
            ORDERLINE_DYNAMODB_ENDPOINT=str(self.settings.dynamodb_endpoint),
            ORDERLINE_TABLE_PREFIX=self.settings.table_prefix,
        )


Headers = dict[str, str]
ADMIN_SCOPES = ("orders:admin", "analytics:read", "metrics:read", "forum:moderate")


def serve_in_thread(app: FastAPI, **options: Any) -> Iterator[str]:
    """Serve `app` from a thread of this process; yield its base URL. `options` go to
    uvicorn.Config (e.g. `proxy_headers`)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        http=ProblemHttpToolsProtocol,  # as `orderline serve` runs it
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
