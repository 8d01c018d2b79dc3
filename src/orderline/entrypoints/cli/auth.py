"""`orderline token issue`: development tokens signed with the data dir's key."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from orderline.bootstrap import dev_signer
from orderline.domain.access import Role

from .app import app
from .common import fail, load_settings

token_app = typer.Typer(
    help="Bearer tokens for development, signed with the data dir's key.", no_args_is_help=True
)
app.add_typer(token_app, name="token")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@token_app.command("issue")
def token_issue(
    role: Annotated[Role, typer.Option(help="customer, restaurant, staff or service.")],
    sub: Annotated[str, typer.Option(help="Subject: the customerId of a customer.")],
    restaurant: Annotated[
        str | None, typer.Option(help="restaurantId (required with --role restaurant).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope to grant (repeat): orders:admin, analytics:read, …"),
    ] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime: 30m, 1h, 7d, 3600s.")] = "1h",
    email: Annotated[
        str | None,
        typer.Option(help="A verified address (claims email, email_verified): the forum's."),
    ] = None,
) -> None:
    """Print a bearer token for the running API (same data dir, no JWKS configured).

    Example: TOKEN=$(orderline token issue --role customer --sub 123e4567-e89b-12d3-a456-426614174000)
    """  # noqa: E501
    settings = load_settings()
    if settings.jwt_jwks_url:
        fail("ORDERLINE_JWT_JWKS_URL is set: tokens come from your identity provider")
    if role is Role.RESTAURANT and not restaurant:
        fail("--role restaurant needs --restaurant ID")
    signer = dev_signer(settings)
    token = signer.issue(
        sub,
        role,
        restaurant_id=restaurant,
        scopes=tuple(scope or ()),
        ttl_seconds=_seconds(ttl),
        email=email,
    )
    typer.echo(token)


def _seconds(ttl: str) -> int:
    found = re.fullmatch(r"(\d{1,7})([smhd])", ttl.strip())
    if found is None:
        fail(f"--ttl must look like 30m, 1h, 7d or 3600s; got {ttl!r}")
    seconds = int(found.group(1)) * UNITS[found.group(2)]
    if not 0 < seconds <= 366 * 86400:
        fail("--ttl must be between 1 second and 366 days")
    return seconds
