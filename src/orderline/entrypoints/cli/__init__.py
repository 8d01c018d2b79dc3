"""The `orderline` command, split by topic: serve, workers, tables, maintenance, auth,
provisioning, forum, ops (backup, restore, migrations), dr (regions)."""

from . import (
    auth,
    counters,
    dr,
    dr_conflicts,
    forum,
    maintenance,
    migration,
    native,
    ops,
    provision,
    serve,
    tables,
    workers,
)
from .app import app

__all__ = [
    "app",
    "auth",
    "counters",
    "dr",
    "dr_conflicts",
    "forum",
    "maintenance",
    "migration",
    "native",
    "ops",
    "provision",
    "serve",
    "tables",
    "workers",
]
