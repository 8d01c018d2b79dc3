"""Secrets kept in the data dir when none is configured: created once (mode 0600), then reused.

No signing key or cursor secret is ever a constant in the code. A secret is written whole to a
private scratch file and then linked into place, so no process ever reads part of one; a file
shorter than `MIN_SECRET_BYTES` is refused at start-up (one line), except an empty one (left
by a crash between creating and writing it), which is made again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .adapters.errors import StartupError

MIN_SECRET_BYTES = 32


def local_secret(
    path: Path, create: Callable[[], bytes], min_bytes: int = MIN_SECRET_BYTES
) -> bytes:
    """The secret in `path`, made by `create` on first use; concurrent first uses agree."""
    secret = _read(path)
    if secret == b"":
        path.unlink(missing_ok=True)
        secret = None
    if secret is None:
        secret = _create(path, create)
    if len(secret) < min_bytes:
        raise StartupError(
            f"the secret in {path} has {len(secret)} bytes, it needs at least {min_bytes} "
            "(was its write cut short?): restore it, or delete it to have a new one made"
        )
    return secret


def random_secret(size: int = 32) -> Callable[[], bytes]:
    return lambda: os.urandom(size).hex().encode()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _create(path: Path, create: Callable[[], bytes]) -> bytes:
    """Write a new secret privately and whole, then link it in unless another process won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(create())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # never replaces: the first link wins
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path.read_bytes()
