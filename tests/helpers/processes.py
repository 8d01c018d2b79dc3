"""Processes a test starts: a free port for them, and waiting until one serves."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(
    process: subprocess.Popen[bytes],
    base: str,
    *,
    what: str,
    log: Callable[[], str],
    seconds: float = 60,
) -> None:
    """Poll `/health/ready` until it answers 200; fail with the process's log if it exits or
    `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited: {log()}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} did not become ready: {log()}")
