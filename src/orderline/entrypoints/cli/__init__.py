"""The `orderline` command, split by topic: serve, workers, tables, maintenance, provisioning."""

from . import maintenance, provision, serve, tables, workers
from .app import app

__all__ = ["app", "maintenance", "provision", "serve", "tables", "workers"]
