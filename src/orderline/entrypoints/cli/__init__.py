"""The `orderline` command, split by topic: serve, workers, tables, maintenance, ops."""

from . import maintenance, migration, native, ops, serve, tables, workers
from .app import app

__all__ = ["app", "maintenance", "migration", "native", "ops", "serve", "tables", "workers"]
