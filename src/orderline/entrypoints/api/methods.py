"""405 with `Allow` for a method a known path does not declare, OPTIONS and HEAD included.

Starlette would answer an undeclared method with the methods of the first route whose path
matches (`/api/orders/{id}` with `GET` only, while PATCH and DELETE live on other routes), answer
OPTIONS and HEAD as if declared, and route `PATCH /api/orders/status` to `/api/orders/{order_id}`.
Here a path's methods are those of every route with its template, and a concrete path wins over
a templated one, as OpenAPI matches them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import send_problem

# Methods the document declares; HEAD is not one of them, so it is refused like any other.
_IMPLICIT = frozenset({"HEAD"})


@dataclass(frozen=True)
class Resource:
    pattern: re.Pattern[str]
    parameters: int
    methods: frozenset[str]


def resources(routes: list[BaseRoute]) -> list[Resource]:
    """One entry per path template (included routers flattened), with all its routes' methods."""
    by_path: dict[str, set[str]] = {}
    for route in iter_route_contexts(routes):
        if route.path and route.methods:
            by_path.setdefault(route.path, set()).update(route.methods - _IMPLICIT)
    table = []
    for path, methods in by_path.items():
        regex, _, convertors = compile_path(path)
        table.append(Resource(regex, len(convertors), frozenset(methods)))
    return table


def allowed_methods(table: list[Resource], path: str) -> frozenset[str] | None:
    """The methods of the most concrete template matching `path`; None for an unknown path."""
    matching = [resource for resource in table if resource.pattern.match(path)]
    if not matching:
        return None
    concrete = min(resource.parameters for resource in matching)
    return frozenset().union(*(r.methods for r in matching if r.parameters == concrete))


class MethodNotAllowedMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[Resource] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._table is None:
                self._table = resources(scope["app"].router.routes)
            allowed = allowed_methods(self._table, _route_path(scope))
            if allowed is not None and scope["method"] not in allowed:
                await send_problem(
                    send,
                    scope,
                    405,
                    "Method Not Allowed",
                    f"{scope['method']} is not allowed on {scope['path']}",
                    {"Allow": ", ".join(sorted(allowed))},
                )
                return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
