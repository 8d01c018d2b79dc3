"""Request-scoped access to the container's parts, and parsing of the headers the API honours.

Each route depends on the part it uses: `CommandsDep` (the write side), `ViewsDep` and
`OrdersDep` (the read side), `ForumDep`, `LiveDep`; `SettingsDep` for limits such as the page
size; only health checks see the whole container (`ContainerDep`).
Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
thread, a hop that cost more than the whole cached read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orderline.auth.authenticator import Authenticator
from orderline.auth.jwks import KeysUnavailable
from orderline.auth.limits import address_key, retry_after
from orderline.auth.tokens import InvalidToken
from orderline.bootstrap import Container
from orderline.config import Settings
from orderline.domain.access import ANONYMOUS_ADMIN, Actor
from orderline.forum.service import ForumService
from orderline.live.hub import Hub
from orderline.readmodel.ports import OrderQueries
from orderline.readmodel.views import OrderViews
from orderline.service_layer.dispatcher import CommandDispatcher

from .contract import ETAG_PATTERN, IDEMPOTENCY_KEY_PATTERN
from .errors import ApiError, unauthorized

_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_settings(request: Request) -> Settings:
    return (await get_container(request)).settings


async def get_commands(request: Request) -> CommandDispatcher:
    """The write side: where commands go."""
    return (await get_container(request)).commands


async def get_views(request: Request) -> OrderViews:
    """The read side: order reads through cache -> DynamoDB -> PostgreSQL."""
    return (await get_container(request)).read.views


async def get_orders(request: Request) -> OrderQueries:
    """The read side's PostgreSQL queries (the filtered order listing)."""
    return (await get_container(request)).read.orders


async def get_forum(request: Request) -> ForumService:
    forum = (await get_container(request)).forum
    if forum is None:
        raise RuntimeError("the forum needs DynamoDB")
    return forum


async def get_live(request: Request) -> Hub | None:
    """The live-tracking hub (None: the process serves no live tracking)."""
    return (await get_container(request)).live


ContainerDep = Annotated[Container, Depends(get_container)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CommandsDep = Annotated[CommandDispatcher, Depends(get_commands)]
ViewsDep = Annotated[OrderViews, Depends(get_views)]
OrdersDep = Annotated[OrderQueries, Depends(get_orders)]
ForumDep = Annotated[ForumService, Depends(get_forum)]
LiveDep = Annotated[Hub | None, Depends(get_live)]
bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT from the identity provider (in development: `orderline token issue`).",
)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The request's principal: its verified token (each token is verified once), rate limited;
    failed authentications are limited per client address."""
    auth: Authenticator = request.app.state.container.auth
    if auth.verifier is None:
        return ANONYMOUS_ADMIN
    if credentials is None:
        raise unauthorized("this endpoint needs a bearer token (Authorization: Bearer <JWT>)")
    actor = auth.verifier.cached(credentials.credentials)
    if actor is None:
        actor = await _verified(auth, credentials.credentials, _client_key(request))
    if auth.limiter is not None:
        wait = auth.limiter.take(actor.subject)
        if wait is not None:
            raise too_many(f"more than {auth.limiter.rate:g} requests per second", wait)
    return actor


async def _verified(auth: Authenticator, token: str, client: str) -> Actor:
    """A token seen for the first time: refused at once while its address is over its budget
    of failed authentications; each failure spends one."""
    assert auth.verifier is not None
    if auth.failures is not None:
        wait = auth.failures.blocked(client)
        if wait is not None:
            raise too_many("too many failed authentications from this address", wait)
    try:  # the first sight of a token may fetch the JWKS: off the event loop
        return await asyncio.to_thread(auth.verifier.verify, token)
    except InvalidToken as exc:
        if auth.failures is not None:
            auth.failures.take(client)
        raise unauthorized(str(exc), error="invalid_token") from None
    except KeysUnavailable as exc:
        seconds = retry_after(exc.retry_after_seconds)
        raise ApiError(
            503,
            "Identity provider unavailable",
            "the identity provider's keys cannot be fetched, so the token can be neither "
            f"trusted nor refused; retry after {seconds} s",
            headers={"Retry-After": seconds},
        ) from None


def too_many(reason: str, wait: float) -> ApiError:
    seconds = retry_after(wait)
    return ApiError(
        429,
        "Too many requests",
        f"{reason}; retry after {seconds} s",
        headers={"Retry-After": seconds},
    )


def _client_key(request: Request) -> str:
    """The client's address (the socket's peer, or what a trusted proxy said it is)."""
    return address_key(request.client.host) if request.client is not None else "unknown"


ActorDep = Annotated[Actor, Depends(current_actor)]


def is_loopback(request: Request) -> bool:
    """Whether the request comes from this machine (the socket's peer, not a header)."""
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            description='The version you last saw, as the ETag this API sent: `"3"` (or `*`: '
            "any). Another version → 412; another form → 400.",
            json_schema_extra={"pattern": ETAG_PATTERN},
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match == "*":
        return None
    found = _ETAG.fullmatch(if_match)
    if found is None:
        raise ApiError(
            400,
            "Invalid If-Match header",
            f'If-Match must be an ETag this API issued, like "3"; got {if_match!r}',
        )
    return int(found.group(1))


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (≤ 255 printable ASCII). A retry with the same key "
            "and body returns the first response; another body gets 422; another form 400.",
            json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
        ),
    ] = None,
) -> str | None:
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400,
            "Invalid Idempotency-Key header",
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
        )
    return key


ExpectedVersion = Annotated[int | None, Depends(expected_version)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
