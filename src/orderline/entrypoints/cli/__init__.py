"""The `orderline` command, split by topic: serve, workers, tables, maintenance."""

from . import maintenance, serve, tables, workers
from .app import app

__all__ = ["app", "maintenance", "serve", "tables", "workers"]
