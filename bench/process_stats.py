"""A process's CPU time and RSS, read with psutil: what the benchmarks sample of the server."""

from __future__ import annotations

import psutil


def cpu_seconds(*pids: int) -> float:
    """User + system CPU seconds the processes `pids` have used so far, summed."""
    return float(sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids))


def rss_bytes(process: psutil.Process) -> int:
    """The resident set size of `process` now."""
    return int(process.memory_info().rss)


def rss_mb(process: psutil.Process) -> float:
    """The resident set size of `process` now, in MiB."""
    return rss_bytes(process) / 2**20
