"""Secrets kept in the data dir when none is configured: created once (mode 0600), then reused.

No signing key or cursor secret is ever a constant in the code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def local_secret(path: Path, create: Callable[[], bytes]) -> bytes:
    """The secret in `path`, made by `create` on first use; concurrent first uses agree."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as file:
        file.write(create())
    return path.read_bytes()


def random_secret(size: int = 32) -> Callable[[], bytes]:
    return lambda: os.urandom(size).hex().encode()
