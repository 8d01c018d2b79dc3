"""The `orderline` command, split by topic: serve, workers, tables, maintenance, auth,
provisioning, forum."""

from . import auth, forum, maintenance, provision, serve, tables, workers
from .app import app

__all__ = ["app", "auth", "forum", "maintenance", "provision", "serve", "tables", "workers"]
