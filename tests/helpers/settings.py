"""The Settings of a test container: the test's database and DynamoDB, a table prefix of its
own (its tables are deleted when the test ends), a fast relay backoff."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from orderline.config import Settings

from .dynamodb import new_prefix

DATA_DIR = Path(tempfile.mkdtemp(prefix="orderline-test-data-"))


def settings_for(database_url: str, dynamodb_endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "dynamodb_endpoint": dynamodb_endpoint,
        "table_prefix": new_prefix(),
        "relay_backoff_seconds": 0.01,
        "data_dir": DATA_DIR,  # the signing key and cursor secret of test containers
    }
    values.update(overrides)
    return Settings(**values)
