"""The benchmark endpoints (ORDERLINE_BENCH_ENDPOINTS): floors, what the server costs with
nothing to do.

`/bench/asgi` is answered before FastAPI (a bare ASGI app); `/bench/fastapi` is a FastAPI
hello-world route behind the same middleware as every other route.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

BODY = b'{"ok":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


def add_bench_endpoints(app: FastAPI) -> ASGIApp:
    @app.get("/bench/fastapi", include_in_schema=False)
    async def fastapi_floor() -> dict[str, bool]:
        return {"ok": True}

    async def floors(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/asgi":
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await send({"type": "http.response.body", "body": BODY})
            return
        await app(scope, receive, send)

    return floors
