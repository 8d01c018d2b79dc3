"""Backup and restore, `orderline` against dynamodump 1.11.1, side by side on one emulator.

    .venv/bin/python -m bench.backup [--items 200000] [--emulator dynamodb-local|moto]

Two tables (one with a GSI) share the items; each tool backs both up and restores them under a
new prefix; restored counts are checked with `Scan Select=COUNT`. Each run is a process: items/s,
peak RSS of the process and its children (psutil, sampled every 20 ms), CPU seconds (user +
system of the process and the children it waited for, from wait4).
Results: bench/results/backup.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil

from orderline import dynamodb_local
from orderline.adapters.dynamodb.client import client_credentials
from orderline.config import Settings
from orderline.embedded import embedded_dynamodb
from orderline.ops.bulk.dynamodb_http import open_wire
from orderline.ops.bulk.scan import count_items
from orderline.ops.bulk.writer import BATCH, BatchWriter

REPO = Path(__file__).parents[1]
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
SOURCE, OURS, THEIRS = "bsrc", "bours", "btheirs"
TABLES = ("status", "details")


@contextmanager
def emulator(choice: str | None) -> Iterator[tuple[str, str]]:
    reason = dynamodb_local.unavailable_reason(REPO / ".tools")
    if choice != "moto" and reason is None:
        with dynamodb_local.running(REPO / ".tools") as endpoint:
            yield "DynamoDB Local 1.25.1", endpoint
    else:
        print(f"DynamoDB Local not used ({reason or 'asked for moto'}); moto instead")
        with embedded_dynamodb() as endpoint:
            yield "moto", endpoint


async def load(endpoint: str, items: int) -> None:
    settings = Settings(dynamodb_endpoint=endpoint, dynamodb_timeout_seconds=30)
    async with open_wire(settings) as wire:
        from orderline.adapters.dynamodb.client import dynamodb_client

        async with dynamodb_client(settings) as client:
            await client.create_table(
                TableName=f"{SOURCE}-status",
                KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
                AttributeDefinitions=[
                    {"AttributeName": "orderId", "AttributeType": "S"},
                    {"AttributeName": "customerId", "AttributeType": "S"},
                    {"AttributeName": "updatedAt", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "CustomerStatusIndex",
                        "KeySchema": [
                            {"AttributeName": "customerId", "KeyType": "HASH"},
                            {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
            await client.create_table(
                TableName=f"{SOURCE}-details",
                KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        writer = BatchWriter(wire, concurrency=16)
        for table in TABLES:
            rows = [row(n) for n in range(items // 2)]
            chunks = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
            for start in range(0, len(chunks), 400):
                await asyncio.gather(
                    *(writer.put_items(f"{SOURCE}-{table}", c) for c in chunks[start : start + 400])
                )


def row(n: int) -> dict[str, Any]:
    return {
        "orderId": {"S": f"{n:08d}-4e2a-9c1b-{n:012d}"},
        "customerId": {"S": f"customer-{n % 5000}"},
        "updatedAt": {"S": f"2026-01-{1 + n % 28:02d}T12:00:00.000000Z"},
        "status": {"S": "CONFIRMED"},
        "totalAmount": {"N": f"{n % 997}.{n % 100:02d}"},
        "version": {"N": str(1 + n % 7)},
        "items": {"S": "pizza-margherita x2; cola x1; tiramisu x1"},
        "ttl": {"N": "4102444800"},
    }


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a process; wall seconds, peak RSS of it and its children, CPU seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**child_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peak = [0]
    done = threading.Event()
    threading.Thread(target=_sample, args=(process.pid, peak, done), daemon=True).start()
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{output.decode()[-3000:]}")
    return {
        "seconds": seconds,
        # psutil's samples only: ru_maxrss of a forked child starts at the parent's RSS
        "peak_rss_mb": peak[0] / 2**20,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def child_env() -> dict[str, str]:
    """Bytecode caching on: a tool run from an installation imports compiled modules."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_up() -> None:
    """Import each tool once, so neither pays for compiling its modules in a measured run."""
    for tool in ("orderline", "dynamodump"):
        subprocess.run([str(BIN / tool), "--help"], env=child_env(), capture_output=True)


def _sample(pid: int, peak: list[int], done: threading.Event) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.is_set():
        try:
            tree = [root, *root.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            return
        time.sleep(0.02)


async def counts(endpoint: str, prefix: str) -> int:
    async with open_wire(Settings(dynamodb_endpoint=endpoint)) as wire:
        return sum([await count_items(wire, f"{prefix}-{table}") for table in TABLES])


def run(items: int, choice: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="orderline-bench-backup-"))
    warm_up()
    try:
        with emulator(choice) as (name, endpoint):
            print(f"loading {items} items into 2 tables on {name} …", flush=True)
            asyncio.run(load(endpoint, items))
            results = {"emulator": name, "items": items, "tools": _both(endpoint, work, items)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _both(endpoint: str, work: Path, items: int) -> dict[str, Any]:
    credentials = client_credentials(endpoint)
    ours_env = {
        "ORDERLINE_DYNAMODB_ENDPOINT": endpoint,
        "ORDERLINE_TABLE_PREFIX": f"{SOURCE}-",
        "ORDERLINE_DATA_DIR": str(work / "data"),
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
    }
    url = urlparse(endpoint)
    local = ["-r", "us-east-1", "--host", str(url.hostname), "--port", str(url.port)]
    local += ["--accessKey", credentials["aws_access_key_id"]]
    local += ["--secretKey", credentials["aws_secret_access_key"], "--log", "WARNING"]
    tools: dict[str, Any] = {"orderline": {}, "dynamodump": {}}
    print("orderline backup …", flush=True)
    tools["orderline"]["backup"] = measure(
        [str(BIN / "orderline"), "backup", "--out", str(work / "ours"), "--segments", "8"], ours_env
    )
    print("orderline restore …", flush=True)
    tools["orderline"]["restore"] = measure(
        [str(BIN / "orderline"), "restore", str(work / "ours"), "--prefix", f"{OURS}-"], ours_env
    )
    dump = [str(BIN / "dynamodump"), *local, "--dumpPath", str(work / "theirs")]
    print("dynamodump backup …", flush=True)
    tools["dynamodump"]["backup"] = measure([*dump, "-m", "backup", "-s", f"{SOURCE}*"], {})
    print("dynamodump restore …", flush=True)
    restore = ["-m", "restore", "-s", f"{SOURCE}*", "-d", f"{THEIRS}*", "--noConfirm"]
    tools["dynamodump"]["restore"] = measure(
        [*dump, *restore, "--billingMode", "PAY_PER_REQUEST"], {}
    )
    for tool, prefix in (("orderline", OURS), ("dynamodump", THEIRS)):
        restored = asyncio.run(counts(endpoint, prefix))
        tools[tool]["restored_items"] = restored
        for phase in ("backup", "restore"):
            tools[tool][phase]["items_per_second"] = items / tools[tool][phase]["seconds"]
    return tools


def markdown(results: dict[str, Any]) -> str:
    ours, theirs = results["tools"]["orderline"], results["tools"]["dynamodump"]
    lines = [
        f"Backup and restore of {results['items']:,} items in 2 tables on {results['emulator']}"
        f" ({results['finished']})",
        "",
        "| tool | phase | seconds | items/s | peak RSS MB | CPU s | speed-up |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for phase in ("backup", "restore"):
        for tool, runs in (("orderline", ours), ("dynamodump 1.11.1", theirs)):
            run_ = runs[phase]
            ratio = run_["items_per_second"] / theirs[phase]["items_per_second"]
            lines.append(
                f"| {tool} | {phase} | {run_['seconds']:.1f} | {run_['items_per_second']:,.0f} | "
                f"{run_['peak_rss_mb']:.0f} | {run_['cpu_seconds']:.1f} | {ratio:.1f}× |"
            )
    lines.append("")
    lines.append(
        f"Restored items counted afterwards: orderline {ours['restored_items']:,}, "
        f"dynamodump {theirs['restored_items']:,}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--emulator", choices=["dynamodb-local", "moto"], default=None)
    args = parser.parse_args(argv)
    results = run(args.items, args.emulator)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backup.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (RESULTS / "backup.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
