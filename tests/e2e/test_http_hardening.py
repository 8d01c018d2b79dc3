"""Issue 21, findings 6, 9 and 13 over HTTP: crafted tokens, failed authentications, an identity
provider that is down, the client address behind proxies, and the headers of every response."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from orderline.bootstrap import Profile, bootstrap
from orderline.config import Settings
from orderline.domain.access import Role
from orderline.entrypoints.api.app import create_app
from orderline.entrypoints.cli.server import uvicorn_config

from ..helpers.http import assert_problem, create
from ..helpers.server import RunningServer, serve_in_thread

MISSING = "/api/orders/00000000-0000-4000-8000-000000000000"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def crafted(server: RunningServer, **header: Any) -> str:
    """A token of this server with its header replaced (the signature no longer matches)."""
    _, claims, signature = server.token(Role.CUSTOMER, "c1").split(".")
    return f"{_b64(json.dumps({'alg': 'EdDSA', **header}).encode())}.{claims}.{signature}"


@pytest.mark.parametrize(
    "header",
    [{"crit": ["\u2603"]}, {"kid": "\u2603"}, {"typ": "\u2603"}, {"crit": ["\u00e9" * 4000]}],
)
async def test_a_crafted_token_is_a_plain_401(server: RunningServer, header: Any) -> None:
    """Finding 6: token text copied into WWW-Authenticate made the header unencodable (500)."""
    bearer = {"Authorization": f"Bearer {crafted(server, **header)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=bearer) as client:
        response = await client.get(MISSING)
    assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="orderline", error="invalid_token"')
    assert challenge.isascii() and len(challenge) < 200
    assert "\u2603" not in response.text and "\u00e9" not in response.text


@asynccontextmanager
async def served(server: RunningServer, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the e2e server's database, with some settings changed."""
    settings = server.settings.with_overrides(**changes)
    app = create_app(
        settings, lambda: bootstrap(settings, schema=server.schema, profile=Profile.TOOL)
    )
    for base_url in serve_in_thread(app):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield client


async def test_failed_authentications_are_limited_per_client_address(
    server: RunningServer,
) -> None:
    """Finding 9: a client that keeps presenting bad tokens is refused (429) before any work."""
    limits = {"auth_failure_limit_per_minute": 1, "auth_failure_burst": 3}
    async with served(server, **limits) as client:
        bad = {"Authorization": f"Bearer {crafted(server, kid='guess')}"}
        for _ in range(3):
            assert_problem(await client.get(MISSING, headers=bad), 401)
        refused = await client.get(MISSING, headers=bad)
        assert_problem(refused, 429, "failed authentications")
        assert int(refused.headers["retry-after"]) >= 1
        good = server.headers(Role.CUSTOMER, "limited-but-valid")
        assert_problem(await client.get(MISSING, headers=good), 429)  # unverified: not yet


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (the identity provider is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_token_is_503_while_the_identity_provider_is_down(
    server: RunningServer, closed_port: int
) -> None:
    """Finding 9: a token that cannot be checked is not a bad token: 503 and when to retry."""
    url = f"http://127.0.0.1:{closed_port}/.well-known/jwks.json"
    async with served(server, jwt_jwks_url=url) as client:
        bearer = {"Authorization": f"Bearer {crafted(server, kid='k1')}"}
        for _ in range(2):
            response = await client.get(MISSING, headers=bearer)
            assert_problem(response, 503, "identity provider")
            assert 1 <= int(response.headers["retry-after"]) <= 30
            assert "www-authenticate" not in response.headers


async def test_every_response_says_nosniff(client: httpx.AsyncClient) -> None:
    """Finding 13: answers, problems from routes and from middleware alike."""
    for response in (
        await client.get("/health"),
        await client.get(MISSING),
        await client.get("/no/such/route"),
        await client.post("/api/orders", content=b"x", headers={"Content-Type": "text/plain"}),
        await client.get("/dashboard"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


async def test_personal_data_is_not_stored_by_caches(client: httpx.AsyncClient) -> None:
    """Finding 13: orders and forum users carry `Cache-Control: no-store`; ETags stay."""
    placed = await create(client, customerId="no-store")
    read = await client.get(f"/api/orders/{placed['id']}")
    assert read.headers["cache-control"] == "no-store"
    assert read.headers["etag"] == f'"{placed["version"]}"'
    for path in (f"/api/orders/{placed['id']}/status", "/api/customers/no-store/orders"):
        assert (await client.get(path)).headers["cache-control"] == "no-store", path
    assert (await client.get("/api/forum/users/nobody")).headers["cache-control"] == "no-store"


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in header.split(";")
        if directive.strip()
    }


async def test_the_dashboard_has_a_content_security_policy(client: httpx.AsyncClient) -> None:
    policy = _policy(await client.get("/dashboard"))
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]


async def test_the_docs_page_loads_only_what_this_server_serves(
    client: httpx.AsyncClient,
) -> None:
    """Finding 13: no CDN script; the inline start-up script is allowed by its hash only."""
    page = await client.get("/docs")
    assert page.status_code == 200
    policy = _policy(page)
    assert policy["default-src"] == ["'none'"] and "'unsafe-inline'" not in policy["script-src"]
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources), sources
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 1000, source
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]


def _echo_client_app() -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"client": request.client.host if request.client else ""}

    return app


def _serve_config(config: uvicorn.Config) -> Iterator[str]:
    app = config.app
    options = {"proxy_headers": config.proxy_headers}
    if config.proxy_headers:
        options["forwarded_allow_ips"] = config.forwarded_allow_ips
    yield from serve_in_thread(app, **options)


@pytest.mark.parametrize(
    ("trusted", "seen"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")], ids=["none", "lo"]
)
async def test_forwarded_for_counts_only_from_a_trusted_proxy(trusted: str, seen: str) -> None:
    """Finding 13: `orderline serve` trusted X-Forwarded-For from loopback, so "this machine
    only" (/docs, /metrics) and the failed-authentication limit followed a header."""
    config = uvicorn_config(Settings(trusted_proxies=trusted), _echo_client_app())
    for base_url in _serve_config(config):
        async with httpx.AsyncClient(base_url=base_url) as client:
            spoofed = await client.get("/who", headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.json() == {"client": seen}
