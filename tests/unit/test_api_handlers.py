"""Every endpoint and dependency runs on the event loop: a plain `def` would hop to a thread."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from orderline.entrypoints.api.routes import health, listings, orders


def _callables(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _callables(sub)


def _on_the_loop(call: Any) -> bool:
    """A coroutine function, or an object whose `__call__` is one (FastAPI's security classes)."""
    if inspect.isfunction(call) or inspect.ismethod(call):
        return inspect.iscoroutinefunction(call)
    return inspect.iscoroutinefunction(type(call).__call__)


def test_no_endpoint_or_dependency_runs_in_a_worker_thread() -> None:
    routers = (orders.router, listings.router, health.router)
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 10
    threaded = {
        f"{route.path}: {getattr(call, '__qualname__', type(call).__qualname__)}"
        for route in routes
        for call in _callables(route.dependant)
        if not _on_the_loop(call)
    }
    assert threaded == set()
