"""The live streams' lean path: a GET of an SSE route served before FastAPI's routing and
middleware stack, so an open stream holds a few coroutine frames instead of about thirty (an idle
subscriber cost ~31 KB of Python objects, most of them that stack's frames and closures).

The contract is the routes' own (routes/live.py, which the OpenAPI document keeps describing):
the same token check, rate limit, caps, Last-Event-ID validation, ownership rules and
problem+json answers, rendered by the app's own exception handlers, with the same security
headers and request metrics. Whatever this path does not handle itself goes to the full stack
before anything is spent or sent: a request with a body, a malformed path parameter, a missing
or first-seen token (the full stack verifies it once and caches it), a hub not ready yet.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orderline.bootstrap import Container
from orderline.domain.access import ANONYMOUS_ADMIN, Actor
from orderline.metrics import HTTP_LATENCY, HTTP_REQUESTS

from .contract import ID_PATTERN, UUID_PATTERN
from .deps import too_many
from .errors import ApiError
from .middleware import SecurityHeadersMiddleware
from .routes import live
from .sse import LiveStream

_ORDER = re.compile(r"/api/orders/([^/]+)/events")
_RESTAURANT = re.compile(r"/api/restaurants/([^/]+)/events")
_EVERYTHING = "/api/events"
_UUID = re.compile(UUID_PATTERN)
_ID = re.compile(ID_PATTERN)
TEMPLATES = {
    "order": "/api/orders/{order_id}/events",
    "restaurant": "/api/restaurants/{restaurant_id}/events",
    "all": _EVERYTHING,
}
Opener = Callable[[Actor], Any]  # an awaitable LiveStream for the actor, or an exception


class LeanLive:
    """In front of the FastAPI app: a live stream's GET is served here, everything else by
    `full` (the app's own stack). One frame per stream here, not a middleware chain: the
    security headers and request metrics are applied inline."""

    def __init__(self, app: FastAPI, full: ASGIApp) -> None:
        self.app = app
        self.full = full
        self.served = 0  # requests this path answered (the rest went to the full stack)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _kind(scope)
        opener = None if kind is None or self.app.root_path else self._opener(scope, kind)
        actor = None if opener is None else self._actor(scope)
        if kind is None or opener is None or actor is None:
            await self.full(scope, receive, send)
            return
        self.served += 1
        scope["app"] = self.app
        started, response = time.perf_counter(), None
        try:
            response = await self._opened(scope, receive, opener, actor)
            await response(scope, receive, send)
        finally:
            status = str(response.status_code if response is not None else 500)
            HTTP_REQUESTS.labels("GET", TEMPLATES[kind], status).inc()
            HTTP_LATENCY.labels("GET", TEMPLATES[kind], status).observe(
                time.perf_counter() - started
            )

    async def _opened(
        self, scope: Scope, receive: Receive, opener: Opener, actor: Actor
    ) -> LiveStream | _Answer:
        """The stream (its headers are the full stack's already), or the problem answer with
        the headers SecurityHeadersMiddleware would add."""
        try:
            auth = self.app.state.container.auth
            if auth.limiter is not None:
                wait = auth.limiter.take(actor.subject)
                if wait is not None:
                    raise too_many(f"more than {auth.limiter.rate:g} requests per second", wait)
            stream: LiveStream = await opener(actor)
            return stream
        except Exception as exc:
            problem = await self._problem(scope, receive, exc)
            return _Answer(problem.status_code, SecurityHeadersMiddleware(problem))

    def _opener(self, scope: Scope, kind: str) -> Opener | None:
        """What opens the stream once the actor is known; None: the full stack answers (a
        body, a malformed parameter or Last-Event-ID, no hub ready)."""
        if _has_body(scope):
            return None
        container: Container | None = getattr(self.app.state, "container", None)
        if container is None or container.live is None or not container.live.ready.is_set():
            return None
        hub = container.live
        last_event_id = _header(scope, b"last-event-id")
        try:
            live.validated_position(last_event_id)
        except ApiError:
            return None
        if kind == "order":
            order_id = _ORDER.fullmatch(scope["path"])[1]  # type: ignore[index]
            if not _UUID.fullmatch(order_id):
                return None
            views = container.read.views
            return lambda actor: live.open_order(UUID(order_id), views, hub, actor, last_event_id)
        if kind == "restaurant":
            restaurant_id = _RESTAURANT.fullmatch(scope["path"])[1]  # type: ignore[index]
            if len(restaurant_id) > 64 or not _ID.fullmatch(restaurant_id):
                return None
            return lambda actor: live.open_restaurant(hub, actor, restaurant_id, last_event_id)
        return lambda actor: live.open_everything(hub, actor, last_event_id)

    def _actor(self, scope: Scope) -> Actor | None:
        """The request's actor from a token already verified (cached); None: the full stack
        authenticates (no token, a malformed header, a token not seen yet)."""
        auth = self.app.state.container.auth
        if auth.verifier is None:
            return ANONYMOUS_ADMIN
        found = _header(scope, b"authorization")
        if found is None:
            return None
        scheme, _, token = found.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        actor: Actor | None = auth.verifier.cached(token)
        return actor

    async def _problem(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        """The app's own exception handler's answer (problem+json), as the full stack gives."""
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                answer = handler(Request(scope, receive), exc)
                return await answer if inspect.isawaitable(answer) else answer
        raise exc


class _Answer:
    """A problem answer and its status (for the request metrics)."""

    def __init__(self, status_code: int, app: ASGIApp) -> None:
        self.status_code = status_code
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _kind(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if path == _EVERYTHING:
        return "all"
    if not path.endswith("/events"):
        return None
    if _ORDER.fullmatch(path):
        return "order"
    return "restaurant" if _RESTAURANT.fullmatch(path) else None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value).decode("latin-1")
    return None


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False
