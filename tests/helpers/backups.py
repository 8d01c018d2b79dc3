"""The backup and restore tests' tools: tables and items to back up (one item at DynamoDB's
size limit), canonical dumps to compare, the CLI run as a process to kill, manifests edited."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from orderline.ops.bulk.backup import BackupOptions, plan_backup, run_backup
from orderline.ops.bulk.dynamodb_http import Wire
from orderline.ops.bulk.manifest import Manifest
from orderline.ops.bulk.schema import wait_active
from orderline.ops.bulk.writer import BatchWriter

from .cli import ORDERLINE, process_env

BIG = 395_000  # characters: a 400 KB item on both (moto's limit is 405,000 bytes)


def key(name: str, kind: str = "HASH") -> dict[str, str]:
    return {"AttributeName": name, "KeyType": kind}


def attr(name: str, kind: str = "S") -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


async def make_tables(client: Any, prefix: str) -> None:
    """Three tables covering what dynamodump lost: on-demand with GSI+LSI, TTL and a stream;
    provisioned with a GSI; an empty one."""
    await client.create_table(
        TableName=f"{prefix}events",
        KeySchema=[key("pk"), key("sk", "RANGE")],
        AttributeDefinitions=[attr("pk"), attr("sk", "N"), attr("g"), attr("l")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [key("g"), key("sk", "RANGE")],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["blob"]},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "ByL",
                "KeySchema": [key("pk"), key("l", "RANGE")],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    await client.create_table(
        TableName=f"{prefix}provisioned",
        KeySchema=[key("id")],
        AttributeDefinitions=[attr("id"), attr("g")],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [key("g")],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
            }
        ],
    )
    await client.create_table(
        TableName=f"{prefix}empty",
        KeySchema=[key("id")],
        AttributeDefinitions=[attr("id"), attr("g")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "ByG", "KeySchema": [key("g")], "Projection": {"ProjectionType": "ALL"}}
        ],
    )
    for name in ("events", "provisioned", "empty"):
        await wait_active(client, f"{prefix}{name}")
    await client.update_time_to_live(
        TableName=f"{prefix}events",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )


def event_item(n: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"p{n % 37}"},
        "sk": {"N": str(n)},
        "g": {"S": f"g{n % 5}"},
        "l": {"S": f"l{n}"},
        "blob": {"B": "AAECAwQF/w=="},
        "blobs": {"BS": ["AAE=", "/w=="]},
        "numbers": {"NS": ["1", "2.5", "-3"]},
        "strings": {"SS": ["a", "b"]},
        "nested": {
            "M": {"ok": {"BOOL": True}, "nothing": {"NULL": True}, "l": {"L": [{"N": "1"}]}}
        },
        "expires": {"N": "4102444800"},
    }


async def fill(wire: Wire, prefix: str, events: int = 300) -> None:
    writer = BatchWriter(wire)
    items = [event_item(n) for n in range(events)]
    await asyncio.gather(
        *(writer.put_items(f"{prefix}events", items[i : i + 25]) for i in range(0, events, 25))
    )
    big = {"pk": {"S": "big"}, "sk": {"N": "0"}, "g": {"S": "g"}, "l": {"S": "l"}}
    await writer.put_items(f"{prefix}events", [{**big, "payload": {"S": "x" * BIG}}])
    await writer.put_items(
        f"{prefix}provisioned", [{"id": {"S": f"i{n}"}, "g": {"S": "g"}} for n in range(20)]
    )


async def everything(wire: Wire, table: str) -> list[bytes]:
    """Every item, canonical (keys and set members sorted), sorted."""
    items: list[bytes] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        response = await wire.call("Scan", request)
        items += [
            orjson.dumps(canonical(item), option=orjson.OPT_SORT_KEYS) for item in response["Items"]
        ]
        if not response.get("LastEvaluatedKey"):
            return sorted(items)
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


async def back_up(client: Any, wire: Wire, out: Path, prefix: str) -> Manifest:
    options = BackupOptions(out, prefix, segments=4)
    plan, _ = await plan_backup(client, options, None)
    return (await run_backup(wire, plan, options)).manifest


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`orderline *args` started as a process (so that it can be killed)."""
    return subprocess.Popen(
        [str(ORDERLINE), *args],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def kill_when(process: subprocess.Popen[bytes], ready: Any, what: str) -> None:
    """SIGKILL the process as soon as `ready()` (polled; a loaded machine may take a while to
    start a Python process, so the wait is generous: it ends as soon as the moment comes)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"finished before {what}: {out.decode()} {err.decode()}")
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        await asyncio.sleep(0.02)
    process.kill()
    pytest.fail(f"never saw {what}")


def finish(process: subprocess.Popen[bytes]) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    return out.decode()


def edit_manifest(folder: Path, change: Any) -> None:
    data = orjson.loads((folder / "manifest.json").read_bytes())
    change(data)
    (folder / "manifest.json").write_bytes(orjson.dumps(data))


def events_of(data: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in data["tables"] if t["base_name"] == "events")
