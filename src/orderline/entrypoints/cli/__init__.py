"""The `orderline` command, split by topic: serve, workers, tables, maintenance, auth,
provisioning."""

from . import auth, maintenance, provision, serve, tables, workers
from .app import app

__all__ = ["app", "auth", "maintenance", "provision", "serve", "tables", "workers"]
