"""Pure ASGI middleware: JSON-only bodies, request-size limit, Prometheus request metrics,
loopback-only docs and the security headers of every response."""

from __future__ import annotations

import ipaddress
import json
import time

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderline.adapters.dynamodb.regions import track_reads
from orderline.metrics import HTTP_LATENCY, HTTP_REQUESTS

from .errors import PROBLEM, problem_body

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI's handlers turn it into a 413 problem."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds {max_bytes} bytes")


class RequestGuardMiddleware:
    """Refuse non-JSON bodies (415) and bodies over 1 MiB (413, by length or while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await send_problem(
                send,
                scope,
                413,
                "Request body too large",
                f"the request body exceeds {self.max_bytes} bytes",
            )
            return
        content_type = _header(scope, b"content-type")
        if content_type and not _is_json(content_type) and scope["method"] in _BODY_METHODS:
            await send_problem(
                send,
                scope,
                415,
                "Unsupported media type",
                f"send the body as JSON with Content-Type: application/json, "
                f"not {content_type.decode(errors='replace')}",
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class MetricsMiddleware:
    """Count requests and time them by route template (not raw path: ids would explode labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            code = str(status)
            HTTP_REQUESTS.labels(method, route, code).inc()
            HTTP_LATENCY.labels(method, route, code).observe(time.perf_counter() - start)


class ReadRegionMiddleware:
    """`X-Read-Region` on successful read responses: the DynamoDB region whose read answered
    last, or `postgres` when PostgreSQL answered; it follows `X-Read-Source` (absent for
    `cache`, so it tells no more than that header about which orders exist) and is absent on
    errors and writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        answered = track_reads()

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                headers = MutableHeaders(scope=message)
                source = headers.get("x-read-source")
                if source == "postgres":
                    headers["X-Read-Region"] = "postgres"
                elif answered and source in ("dynamodb", None):  # None: the forum's reads
                    headers["X-Read-Region"] = answered[-1]
            await send(message)

        await self.app(scope, receive, tagging_send)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_ASSETS = "/docs/"  # the page's own scripts and stylesheet (docs.py)


class LoopbackDocsMiddleware:
    """The API documentation for requests from this machine only (ORDERLINE_DOCS_ACCESS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path in DOCS_PATHS or path.startswith(DOCS_ASSETS):
            client = scope.get("client")
            if not client or not _loopback(client[0]):
                detail = f"no route matches {scope['method']} {scope['path']}"
                await send_problem(send, scope, 404, "Not Found", detail)
                return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` on every response, and `Cache-Control: no-store` on
    every /api answer that sets no Cache-Control of its own (orders and forum users are personal
    data; ETags still let a client revalidate and send If-Match)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if private and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def send_problem(
    send: Send,
    scope: Scope,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    """A problem answered by middleware, before any route runs."""
    body = json.dumps(problem_body(status, title, detail, scope.get("path", ""))).encode()
    extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
