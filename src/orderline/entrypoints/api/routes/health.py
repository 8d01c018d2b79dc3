"""Liveness, readiness with each dependency's state and latency, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orderline.domain.access import Scope

from ..deps import ContainerDep, bearer, current_actor, is_loopback
from ..responses import JSONResponse
from ..schemas import problem_responses

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0
Probes = dict[str, Callable[[], Awaitable[Any]]]


class Readiness:
    """The last readiness answer, served for `ttl` seconds; one check runs at a time and
    callers that waited for it take its answer (the endpoint is open: a flood costs nothing)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last: tuple[float, int, dict[str, Any]] | None = None

    async def answer(self, probes: Probes) -> tuple[int, dict[str, Any]]:
        """(status code, body) of a check at most `ttl` seconds old."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is None:
                code, body = await _evaluate(probes)
                self._last = (self._clock(), code, body)
                fresh = code, body
        return fresh

    def _fresh(self) -> tuple[int, dict[str, Any]] | None:
        if self._last is None or self._clock() - self._last[0] >= self._ttl:
            return None
        return self._last[1], self._last[2]


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="Readiness of each dependency")
async def ready(request: Request, container: ContainerDep) -> JSONResponse:
    """503 when PostgreSQL is down. DynamoDB down is `degraded`: writes still land in the outbox.
    Each dependency is `up` or `down` (why goes to the log); the answer is cached briefly
    (ORDERLINE_READINESS_CACHE_SECONDS). `regions`: each DynamoDB region's read circuit
    (`closed`, `open`, `half-open`), home first, as of this request."""
    readiness: Readiness = request.app.state.readiness
    code, body = await readiness.answer(container.readiness_probes())
    regions = container.region_states()
    if regions:
        body = {**body, "regions": regions}
    return JSONResponse(body, status_code=code)


async def _evaluate(probes: Probes) -> tuple[int, dict[str, Any]]:
    checks = {name: await _check(name, probe) for name, probe in probes.items()}
    if checks["postgres"]["status"] != "up":
        overall, code = "down", 503
    elif any(check["status"] != "up" for check in checks.values()):
        overall, code = "degraded", 200
    else:
        overall, code = "ok", 200
    return code, {"status": overall, "checks": checks}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=problem_responses(401, 403, 429),
)
async def metrics(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Open to this machine by default (ORDERLINE_METRICS_ACCESS); elsewhere a bearer token
    with metrics:read."""
    access = container.settings.metrics_access
    if access != "open" and not (access == "loopback" and is_loopback(request)):
        actor = await current_actor(request, credentials)
        actor.check_scope(Scope.METRICS_READ)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness: %s is down: %s", name, str(exc) or type(exc).__name__)
        return {"status": "down", "latencyMs": _ms_since(start)}
    return {"status": "up", "latencyMs": _ms_since(start)}


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
