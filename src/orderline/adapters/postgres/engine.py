"""Async engine construction: one place that knows how URLs and schemas map to asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Accept `postgresql://` or `postgres://` URLs and name the asyncpg driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, *, schema: str | None = None, pool_size: int = 10) -> AsyncEngine:
    server_settings = {"application_name": "orderline"}
    if schema is not None:
        server_settings["search_path"] = schema
    # No pre-ping: it is a round trip on every checkout. After a PostgreSQL restart the first
    # statement on a dead connection fails, and SQLAlchemy then drops every pooled connection.
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": server_settings, "command_timeout": 30},
    )
