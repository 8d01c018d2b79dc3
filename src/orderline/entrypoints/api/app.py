"""The FastAPI application: routes, error handlers, middleware; the container from bootstrap."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from orderline import __version__
from orderline.bootstrap import Container, bootstrap, cursor_secret
from orderline.config import Settings
from orderline.workers.runner import in_background

from . import docs as docs_page
from . import errors, openapi
from .cursors import CursorCodec
from .live_lean import LeanLive
from .methods import MethodNotAllowedMiddleware
from .middleware import (
    LoopbackDocsMiddleware,
    MetricsMiddleware,
    ReadRegionMiddleware,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
)
from .paging import Paging
from .routes import forum, health, listings, live, orders
from .routes.health import Readiness

ContainerFactory = Callable[[], AbstractAsyncContextManager[Container]]

DESCRIPTION = """
Orders are written to PostgreSQL together with an outbox event in one transaction; a relay
projects the events into DynamoDB, and reads go cache → DynamoDB → PostgreSQL
(`X-Read-Source` says which tier answered).
Errors are `application/problem+json`. Money is a decimal string (`"15.99"`, never a JSON
number); timestamps are RFC 3339 date-times with their offset, UTC in responses. A method a path
does not declare (OPTIONS and HEAD included) answers 405 with `Allow`.

Every `/api` call needs `Authorization: Bearer <JWT>` (in development `orderline token issue`
prints one; **Authorize** above takes it). Customers see and cancel their own orders,
restaurants work their own orders, staff act through scopes (`orders:admin`, `analytics:read`).
Another principal's order answers 404 exactly like a missing one; no or a bad token 401; a
missing right 403 naming the scope.
"""


def _include_routes(app: FastAPI) -> None:
    for module in (orders, listings, forum, health, live):
        app.include_router(module.router)
    app.mount("/dashboard/static", StaticFiles(directory=live.STATIC), name="dashboard-static")


class OrderlineApi(FastAPI):
    """The app, with the live streams' GETs served in front of its stack (live_lean.py)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.live_front = LeanLive(self, super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.live_front(scope, receive, send)


def create_app(settings: Settings, container_factory: ContainerFactory | None = None) -> FastAPI:
    """Build the app; its lifespan opens the container (bootstrap by default) and closes it."""
    factory = container_factory or (lambda: bootstrap(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with factory() as container:
            app.state.container = container
            # What start-up built (SQLAlchemy, botocore models, the warmed cache) lives for the
            # whole process: keep it out of the collector's full passes, which otherwise stall
            # every request for tens of milliseconds. Garbage is collected first, not frozen.
            gc.collect()
            gc.freeze()
            loops = container.worker_loops() if container.settings.workers else []
            if container.live is not None:
                loops.append(container.live.run)  # SSE fan-out: every API process runs one
            async with in_background(loops):
                yield

    docs = settings.docs_access != "off"
    app = OrderlineApi(
        title="Orderline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # docs.py serves it with local assets and a CSP
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    if docs:
        docs_page.install(app)
    app.state.readiness = Readiness(settings.readiness_cache_seconds)
    app.state.paging = Paging(CursorCodec(cursor_secret(settings)), settings.max_page_size)
    errors.install(app)
    _include_routes(app)
    openapi.install(app)
    app.add_middleware(RequestGuardMiddleware)
    app.add_middleware(MethodNotAllowedMiddleware)
    if settings.docs_access == "loopback":
        app.add_middleware(LoopbackDocsMiddleware)
    app.add_middleware(ReadRegionMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
