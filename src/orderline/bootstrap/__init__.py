"""Composition root: the one place that builds the process's objects from Settings.

- `root.py`: `bootstrap(settings, profile=...)`, which opens the connections and builds the parts
  the profile needs into a `Container` (`container.py`).
- `profile.py`: `Profile` (API, RELAY, PROJECTOR, TOOL) and what each one builds and starts.
- `write_side.py`, `read_side.py`, `workers.py`, `contexts.py` (forum, live tracking, table
  router): one builder module per part.
- `openers.py`: the PostgreSQL engine and the DynamoDB clients (home, and the region-choosing
  one on every region), for bootstrap and CLI commands.
- `settings_map.py`: Settings -> each component's configuration (policies, caches, auth).
"""

from __future__ import annotations

from .aggregator import open_aggregator
from .container import Container, PartMissing
from .contexts import build_forum, build_forum_store, build_live, open_forum
from .openers import TOOL_POOL_SIZE, open_dynamodb, open_engine, open_regions, open_streams
from .profile import Profile
from .read_side import ReadSide, build_projector, build_reconciler
from .root import bootstrap
from .settings_map import (
    aggregates,
    build_auth,
    cursor_secret,
    dev_signer,
    expiry_of,
    kafka_topics,
    relay_policy,
    retention_policy,
    with_replay_default,
)
from .workers import Workers
from .write_side import WRITE_THROUGH_HOLD, WriteSide, utc_now

__all__ = [
    "TOOL_POOL_SIZE",
    "WRITE_THROUGH_HOLD",
    "Container",
    "PartMissing",
    "Profile",
    "ReadSide",
    "Workers",
    "WriteSide",
    "aggregates",
    "bootstrap",
    "build_auth",
    "build_forum",
    "build_forum_store",
    "build_live",
    "build_projector",
    "build_reconciler",
    "cursor_secret",
    "dev_signer",
    "expiry_of",
    "kafka_topics",
    "open_aggregator",
    "open_dynamodb",
    "open_engine",
    "open_forum",
    "open_regions",
    "open_streams",
    "relay_policy",
    "retention_policy",
    "utc_now",
    "with_replay_default",
]
