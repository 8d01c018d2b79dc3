"""The browser tests run against the e2e server (a real uvicorn on a fresh schema)."""

from ..e2e.conftest import client, server

__all__ = ["client", "server"]
