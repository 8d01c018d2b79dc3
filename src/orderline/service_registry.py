"""Where a running `orderline serve` tells other commands which embedded services it started.

The embedded PostgreSQL and DynamoDB emulator listen on ports chosen at start-up. While `serve`
runs it keeps `<data dir>/services.json` with their addresses and its pid, and removes the file
when it stops; a file whose process is gone (a `kill -9`) is stale and ignored. Operations
commands started beside `make run` read it, so they need no configuration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "services.json"


@dataclass(frozen=True)
class RunningServices:
    pid: int
    api: str
    database_url: str | None = None
    dynamodb_endpoint: str | None = None


def registry_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


@contextmanager
def registered(data_dir: Path, services: RunningServices) -> Iterator[None]:
    """Publish `services` in the data dir for as long as the block runs."""
    path = registry_file(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    scratch.unlink(missing_ok=True)  # a leftover keeps its mode: never reuse one
    # 0600 from its creation: the database URL may carry a password
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(json.dumps(asdict(services)))
    scratch.replace(path)
    try:
        yield
    finally:
        current = find(data_dir)
        if current is not None and current.pid == services.pid:
            path.unlink(missing_ok=True)


def find(data_dir: Path) -> RunningServices | None:
    """The services of a live `serve` on this data dir, or None (no file, unreadable, stale)."""
    try:
        found = RunningServices(**json.loads(registry_file(data_dir).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return found if _alive(found.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
