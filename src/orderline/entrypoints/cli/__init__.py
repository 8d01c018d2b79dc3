"""The `orderline` command, split by topic: serve, workers, tables, maintenance, auth."""

from . import auth, maintenance, serve, tables, workers
from .app import app

__all__ = ["app", "auth", "maintenance", "serve", "tables", "workers"]
