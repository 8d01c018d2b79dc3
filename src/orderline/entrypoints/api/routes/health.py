"""Liveness, readiness with each dependency's state and latency, and Prometheus metrics."""

from __future__ import annotations

import asyncio
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
CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="Readiness of each dependency")
async def ready(container: ContainerDep) -> JSONResponse:
    """503 when PostgreSQL is down. DynamoDB down is `degraded`: writes still land in the outbox."""
    checks = {name: await _check(probe) for name, probe in container.readiness_probes().items()}
    if checks["postgres"]["status"] != "up":
        overall, code = "down", 503
    elif any(check["status"] != "up" for check in checks.values()):
        overall, code = "degraded", 200
    else:
        overall, code = "ok", 200
    return JSONResponse({"status": overall, "checks": checks}, status_code=code)


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


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        return {"status": "down", "latencyMs": _ms_since(start), "error": error[:300]}
    return {"status": "up", "latencyMs": _ms_since(start)}


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
