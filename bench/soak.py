"""Soak the embedded default: `orderline serve` as `make run` starts it, under steady changes.

    python -m bench.soak --minutes 30 --rate 100

Starts `orderline serve` with nothing configured but a scratch data dir, a free port and
`ORDERLINE_AUTH=false` (so embedded PostgreSQL and the in-process moto emulator, as `make run`),
places orders and moves each through CONFIRMED, PROCESSING, SHIPPED and DELIVERED at `--rate`
status changes per second (plus one placement per four changes), and every `--every` seconds
prints the server's RSS and how many records the history table's stream still holds (oldest
record kept .. the aggregator's checkpoint). Ends with a one-line summary: RSS at start and end
and its slope over the run (least squares), requests, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from orderline.adapters.dynamodb.client import dynamodb_client, streams_client
from orderline.adapters.dynamodb.tables import STREAM_LEASES, ReadModelTables
from orderline.config import Settings
from orderline.service_registry import find
from orderline.streams.shards import describe, stream_of

from .process_stats import rss_mb

ROOT = Path(__file__).resolve().parent.parent
ORDERLINE = ROOT / ".venv" / "bin" / "orderline"
LIFECYCLE = ("CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED")
PREFIX = "orderline-"
console = Console(stderr=True)


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    emulator_mb: float | None  # RSS of the emulator's own process (--emulator separate)
    stream_records: int | None
    items: int | None  # in every table: the data the emulator is meant to keep
    changes: int
    errors: int


@dataclass
class Load:
    changes: int = 0
    placed: int = 0
    errors: int = 0
    last_error: str = ""
    ready: deque[tuple[str, int]] = field(default_factory=deque)  # (order id, next step)


def order_body(number: int) -> dict[str, Any]:
    return {
        "customerId": f"soak-customer-{number % 1000}",
        "restaurantId": f"soak-restaurant-{number % 50}",
        "items": [{"itemId": "pizza", "name": "Pizza", "quantity": 2, "unitPrice": "15.99"}],
        "deliveryAddress": {
            "street": "1 Main St",
            "city": "New York",
            "postalCode": "10001",
            "latitude": 40.7,
            "longitude": -74.0,
        },
    }


async def one_request(client: httpx.AsyncClient, load: Load, number: int) -> None:
    """A status change of an order ready for its next step, or a new order when none is."""
    try:
        if load.ready:
            order_id, step = load.ready.popleft()
            response = await client.post(
                f"/api/orders/{order_id}/status", json={"status": LIFECYCLE[step]}
            )
            response.raise_for_status()
            load.changes += 1
            if step + 1 < len(LIFECYCLE):
                load.ready.append((order_id, step + 1))
        else:
            response = await client.post("/api/orders", json=order_body(number))
            response.raise_for_status()
            load.placed += 1
            load.ready.append((response.json()["id"], 0))
    except httpx.HTTPStatusError as exc:
        load.errors += 1
        load.last_error = f"{exc.response.status_code} {exc.response.text[:300]}"
    except httpx.HTTPError as exc:
        load.errors += 1
        load.last_error = repr(exc)


async def drive(base: str, rate: float, stop: asyncio.Event, load: Load) -> None:
    """Requests at `rate` × 5/4 per second (four changes per placement), at most 32 at once."""
    interval = 1 / (rate * 5 / 4)
    limit = asyncio.Semaphore(32)
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        start, number = time.perf_counter(), 0
        while not stop.is_set():
            delay = start + number * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await limit.acquire()
            task = asyncio.create_task(one_request(client, load, number))
            task.add_done_callback(lambda done: (limit.release(), pending.discard(done)))
            pending.add(task)
            number += 1
        await asyncio.gather(*pending)


async def items_held(endpoint: str) -> int | None:
    """Items in every table (moto keeps `ItemCount` live)."""
    settings = Settings(dynamodb_endpoint=endpoint, dynamodb_timeout_seconds=30)
    try:
        async with dynamodb_client(settings) as dynamodb:
            total = 0
            for table in (await dynamodb.list_tables())["TableNames"]:
                total += (await dynamodb.describe_table(TableName=table))["Table"]["ItemCount"]
            return total
    except Exception as exc:
        console.print(f"items not counted this time: {exc!r}")
        return None


async def stream_records(endpoint: str) -> int | None:
    """Records the history stream holds that were read: the aggregator's checkpoint minus the
    oldest record kept, plus one (None when nothing was read yet)."""
    settings = Settings(dynamodb_endpoint=endpoint, dynamodb_timeout_seconds=30)
    async with dynamodb_client(settings) as dynamodb, streams_client(settings) as streams:
        arn = await stream_of(dynamodb, ReadModelTables.under(PREFIX).log)
        (shard,) = await describe(streams, arn)
        iterator = await streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )
        page = await streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1)
        leases = await dynamodb.scan(TableName=STREAM_LEASES.table_name(PREFIX))
        checkpoints = [int(i["checkpoint"]["S"]) for i in leases["Items"] if "checkpoint" in i]
        if not page["Records"] or not checkpoints:
            return None
        return max(checkpoints) - int(page["Records"][0]["dynamodb"]["SequenceNumber"]) + 1


async def held_or_none(endpoint: str) -> int | None:
    try:
        return await stream_records(endpoint)
    except Exception as exc:  # the emulator too busy to answer: the next sample will tell
        console.print(f"stream records not read this time: {exc!r}")
        return None


def slope_mb_per_10_min(samples: list[Sample]) -> float:
    if len(samples) < 2:
        return 0.0
    xs, ys = [s.seconds for s in samples], [s.rss_mb for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs) or 1.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * 600


async def soak(
    args: argparse.Namespace,
    server: psutil.Process,
    emulator: psutil.Process | None,
    base: str,
    endpoint: str,
) -> Any:
    load, stop, samples = Load(), asyncio.Event(), []
    driving = asyncio.create_task(drive(base, args.rate, stop, load))
    started, seconds = time.monotonic(), args.minutes * 60
    columns = (TextColumn("soak"), BarColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("", total=seconds)
        next_sample = 0.0
        while (elapsed := time.monotonic() - started) < seconds:
            if elapsed >= next_sample:
                sample = Sample(
                    round(elapsed),
                    rss_mb(server),
                    rss_mb(emulator) if emulator else None,
                    await held_or_none(endpoint),
                    await items_held(endpoint),
                    load.changes,
                    load.errors,
                )
                samples.append(sample)
                progress.console.print(
                    f"t={sample.seconds:>5}s rss={sample.rss_mb:7.1f} MB "
                    + (f"emulator={sample.emulator_mb:7.1f} MB " if emulator else "")
                    + f"stream records={sample.stream_records} items={sample.items} "
                    f"changes={sample.changes} "
                    f"errors={sample.errors}"
                    + (f" (last: {load.last_error})" if load.errors else "")
                )
                next_sample += args.every
            progress.update(task, completed=elapsed, description=f"{load.changes} changes")
            await asyncio.sleep(1)
    stop.set()
    await driving
    return load, samples


def start_server(data_dir: Path, port: int, endpoint: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLINE_")}
    env |= {"ORDERLINE_DATA_DIR": str(data_dir), "ORDERLINE_PORT": str(port)}
    if endpoint is not None:  # the emulator in a process of its own (bench/emulator.py)
        env["ORDERLINE_DYNAMODB_ENDPOINT"] = endpoint
    env["ORDERLINE_AUTH"] = "false"
    log = (data_dir / "serve.log").open("wb")
    return subprocess.Popen([str(ORDERLINE), "serve"], env=env, stdout=log, stderr=log)


def wait_ready(base: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("orderline serve did not become ready")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m bench.soak --minutes 30 --rate 100 --out /tmp/soak.json",
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to load")
    parser.add_argument("--rate", type=float, default=100.0, help="status changes per second")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, help="also write the samples here (JSON)")
    parser.add_argument(
        "--emulator",
        choices=("embedded", "separate"),
        default="embedded",
        help="moto inside `serve` (as `make run`), or in a process of its own (RSS of each)",
    )
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="orderline-soak-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    separate = None
    if args.emulator == "separate":
        emulator_port = free_port()
        separate = subprocess.Popen([sys.executable, "-m", "bench.emulator", str(emulator_port)])
    endpoint = f"http://127.0.0.1:{emulator_port}" if separate else None
    process = start_server(data_dir, port, endpoint)
    try:
        wait_ready(base)
        running = find(data_dir)
        assert running is not None and running.dynamodb_endpoint is not None
        server = psutil.Process(process.pid)
        emulator = psutil.Process(separate.pid) if separate else None
        load, samples = asyncio.run(soak(args, server, emulator, base, running.dynamodb_endpoint))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # still draining after a minute: the figures are in
            process.kill()
            process.wait()
        if separate is not None:
            separate.terminate()
            separate.wait(timeout=30)
    if args.out:
        args.out.write_text(json.dumps([s.__dict__ for s in samples], indent=1))
    first, last = samples[0], samples[-1]
    if separate is not None:
        print(f"emulator process RSS {first.emulator_mb:.1f} → {last.emulator_mb:.1f} MB")
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} changes/s: RSS {first.rss_mb:.1f} → "
        f"{last.rss_mb:.1f} MB (slope {slope_mb_per_10_min(samples):+.1f} MB/10 min), "
        f"{load.changes} changes + {load.placed} placed, {load.errors} errors, "
        f"stream records held {first.stream_records} → {last.stream_records}, items "
        f"{first.items} → {last.items}; data {data_dir}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
