"""`orderline aggregate` killed with SIGKILL again and again while history is written: the
counters still equal a recount of the history table (nothing counted twice, nothing skipped)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.bootstrap import open_dynamodb
from orderline.config import Settings
from orderline.readmodel.projector import Projector

from ..helpers.cli import ORDERLINE, process_env
from ..helpers.counting import settled
from ..helpers.factories import history
from ..helpers.processes import free_port

pytestmark = pytest.mark.slow
KILLS = 10
KILL_PHASE_SECONDS = 240.0  # a bound for a loaded machine, not a speed claim
COUNTED = "orderline_counted_history_entries_total"
HELD = 'orderline_stream_shards_held{consumer="counters"}'


class Aggregators:
    """`orderline aggregate` processes on one table prefix, each with /metrics of its own."""

    def __init__(self, endpoint: str, prefix: str, log_dir: Path) -> None:
        self.env = process_env(
            {
                "ORDERLINE_DYNAMODB_ENDPOINT": endpoint,
                "ORDERLINE_TABLE_PREFIX": prefix,
                "ORDERLINE_STREAM_LEASE_SECONDS": "1",
                "ORDERLINE_STREAM_POLL_SECONDS": "0.05",
                "ORDERLINE_LOG_LEVEL": "warning",
            }
        )
        self.log_dir = log_dir
        self.started = 0

    def start(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        self.started += 1
        log = (self.log_dir / f"aggregate-{self.started}.log").open("ab")
        process = subprocess.Popen(
            [str(ORDERLINE), "aggregate", "--metrics-port", str(port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return process, f"http://127.0.0.1:{port}/metrics"

    def log(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.log_dir.glob("aggregate-*")))


async def reported(
    process: subprocess.Popen[bytes], metrics: str, series: str, seconds: float
) -> float:
    """Wait until the process reports a positive value of a series; that value (0: it did not
    within `seconds`)."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                for line in (await client.get(metrics)).text.splitlines():
                    if line.startswith(series + " ") and float(line.split()[-1]) > 0:
                        return float(line.split()[-1])
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    return 0.0


async def write_history(dynamodb: Any, prefix: str, stop: asyncio.Event) -> int:
    """Project orders (placed, confirmed, processing) until told to stop; the events written."""
    projector, rng, written = Projector(dynamodb, prefix), random.Random(31), 0
    while not stop.is_set():
        events = history([["advance", "advance"]] * 2, rng)
        await projector.project(events)
        written += len(events)
        await asyncio.sleep(0.1)
    return written


def checking(endpoint: str) -> AbstractAsyncContextManager[DynamoDBClient]:
    """A client for the recounts: each scans a few thousand entries, 1 MB a page, on an emulator
    that answers one request at a time while the aggregator reads the stream (moto's pages take
    over the default 2 s on a loaded machine)."""
    return open_dynamodb(Settings(dynamodb_endpoint=endpoint, dynamodb_timeout_seconds=15))


async def test_aggregators_killed_again_and_again_count_every_entry_once(
    dynamodb: Any, dynamodb_endpoint: str, tables: str, tmp_path: Path
) -> None:
    aggregators = Aggregators(dynamodb_endpoint, tables, tmp_path)
    stop_writing = asyncio.Event()
    writing = asyncio.create_task(write_history(dynamodb, tables, stop_writing))
    rng, kills, mid_work = random.Random(32), 0, 0
    deadline = time.monotonic() + KILL_PHASE_SECONDS
    try:
        while kills < KILLS and time.monotonic() < deadline:
            process, metrics = aggregators.start()
            if await reported(process, metrics, COUNTED, seconds=60):
                mid_work += 1
            await asyncio.sleep(rng.uniform(0, 0.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
    finally:
        stop_writing.set()
        written = await writing
    survivor, metrics = aggregators.start()
    try:
        async with checking(dynamodb_endpoint) as checker:
            await settled(checker, tables, seconds=120)
        assert await reported(survivor, metrics, HELD, seconds=60), aggregators.log()
        survivor.send_signal(signal.SIGTERM)  # finishes its batch, gives its lease up
        assert survivor.wait(timeout=30) == 0, aggregators.log()
    finally:
        if survivor.poll() is None:
            survivor.kill()
    print(f"\naggregate crash test: {kills} kills ({mid_work} while counting), {written} entries")
    assert kills == KILLS and mid_work >= KILLS // 2, aggregators.log()
    async with checking(dynamodb_endpoint) as checker:
        await settled(checker, tables, seconds=5)
