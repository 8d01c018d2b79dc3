"""The `orderline` command, split by topic: serve, workers, tables, maintenance, ops."""

from . import maintenance, native, ops, serve, tables, workers
from .app import app

__all__ = ["app", "maintenance", "native", "ops", "serve", "tables", "workers"]
