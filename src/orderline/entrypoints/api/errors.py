"""Every error as `application/problem+json`: status, precise detail and, for validation, where."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain import errors as domain
from orderline.forum import model as forum
from orderline.forum.dynamo import Busy as ForumBusy
from orderline.readmodel.tiers import ReadModelUnavailable

from .responses import JSONResponse

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class ApiError(Exception):
    """An error an entry point raises itself (bad header, bad cursor, ...)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def unauthorized(detail: str, error: str | None = None) -> ApiError:
    """401 with the `WWW-Authenticate: Bearer` challenge (RFC 6750). `detail` is one of the
    fixed sentences of the token checks; anything else stays out of the header (RFC 6750 allows
    printable ASCII without quotes or backslashes there, and a header must stay encodable)."""
    challenge = 'Bearer realm="orderline"'
    if error is not None:
        challenge += f', error="{error}"'
        if _CHALLENGE_TEXT.fullmatch(detail):
            challenge += f', error_description="{detail}"'
    return ApiError(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


_CHALLENGE_TEXT = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]{1,160}")


def problem_body(
    status: int, title: str, detail: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 document; the one definition for handlers and middleware."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return body


def problem(
    status: int, title: str, detail: str, request: Request | None = None, **extra: Any
) -> JSONResponse:
    instance = request.url.path if request is not None else None
    body = problem_body(status, title, detail, instance, **extra)
    headers = {"X-Content-Type-Options": "nosniff"}  # also on a 500, answered outside middleware
    if status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error["type"] == "json_invalid" for error in errors):
        first = errors[0]
        return problem(
            400,
            "Malformed JSON",
            f"the request body is not valid JSON: {first.get('msg', '')}"
            f" (at position {first['loc'][-1]})",
            request,
        )
    listed = [
        {"field": _where(error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in errors
    ]
    first = listed[0]
    detail = f"{first['field']}: {first['message']}"
    if len(listed) > 1:
        detail += f" (and {len(listed) - 1} more)"
    return problem(422, "Invalid request", detail, request, errors=listed)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.method} {request.url.path}"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    response = problem(exc.status_code, _title(exc.status_code), detail, request)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = problem(exc.status, exc.title, exc.detail, request, **exc.extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    """The shared kinds (404, 403, 412) once for every context, then each context's own."""
    assert isinstance(exc, domain.DomainError)
    detail = str(exc)
    match exc:
        case domain.NotFound():
            return problem(404, exc.title, detail, request)
        case domain.Forbidden():
            return problem(403, "Forbidden", detail, request, requiredScope=exc.scope)
        case domain.VersionConflict():
            return problem(412, "Version mismatch", detail, request, currentVersion=exc.actual)
        case forum.ForumError():
            return _forum_problem(request, exc)
        case _:
            return _order_problem(request, exc)


def _order_problem(request: Request, exc: domain.DomainError) -> JSONResponse:
    detail = str(exc)
    match exc:
        case domain.InvalidTransition():
            return problem(
                409,
                "Status change not allowed",
                detail,
                request,
                currentStatus=exc.current,
                allowedNext=exc.allowed,
            )
        case domain.OrderNotEditable():
            return problem(
                409,
                "Order cannot be changed now",
                detail,
                request,
                currentStatus=exc.status,
                fields=exc.fields,
            )
        case domain.IdempotencyKeyReused():
            return problem(422, "Idempotency key reused", detail, request)
        case _:
            return problem(422, "Invalid order", detail, request)


def _forum_problem(request: Request, exc: forum.ForumError) -> JSONResponse:
    detail = str(exc)
    match exc:
        case forum.TooLarge():
            return problem(413, "Item too large", detail, request, itemBytes=exc.size)
        case forum.Conflict():
            return problem(409, "Conflict", detail, request)
        case _:
            return problem(422, "Invalid forum request", detail, request)


async def on_forum_busy(request: Request, exc: Exception) -> JSONResponse:
    log.warning("forum write kept conflicting: %s", exc)
    return problem(503, "Busy", f"{exc}; retry shortly", request)


async def on_dynamodb_error(request: Request, exc: Exception) -> JSONResponse:
    """A DynamoDB failure nothing else handled (the forum's own calls): an outage is 503."""
    if not is_transient(exc):
        return await on_unexpected(request, exc)
    log.warning("DynamoDB unavailable: %s", exc)
    return problem(503, "DynamoDB unavailable", "DynamoDB cannot answer right now; retry", request)


async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return problem(
        503,
        "Database unavailable",
        "PostgreSQL cannot be reached; nothing was changed. Retry shortly.",
        request,
    )


async def on_read_model_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("read model unavailable: %s", exc)
    return problem(
        503,
        "Read model unavailable",
        "DynamoDB cannot answer this query right now; retry shortly "
        "(GET /api/orders filters by customer or restaurant from PostgreSQL).",
        request,
    )


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        500, "Internal error", "an unexpected error occurred; it has been logged", request
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(domain.DomainError, on_domain_error)
    app.add_exception_handler(ForumBusy, on_forum_busy)
    app.add_exception_handler(ClientError, on_dynamodb_error)
    app.add_exception_handler(BotoCoreError, on_dynamodb_error)
    for unavailable in (OperationalError, InterfaceError, ConnectionError, OSError):
        app.add_exception_handler(unavailable, on_database_unavailable)
    app.add_exception_handler(DBAPIError, _on_dbapi_error)
    app.add_exception_handler(ReadModelUnavailable, on_read_model_unavailable)
    app.add_exception_handler(Exception, on_unexpected)


async def _on_dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await on_database_unavailable(request, exc)
    return await on_unexpected(request, exc)
