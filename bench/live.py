"""`python -m bench.live`: live tracking under load (issue 15), against `orderline serve`.

One API process (pinned to CPU 0) with 2,000 SSE subscribers (1,900 following one order each,
90 restaurant boards, 10 all-orders feeds) while status changes flow at 100/s:
commit-to-delivery latency (the event's `occurredAt`, stamped just before its commit, to the
moment the subscriber's socket read returns it), memory per idle subscriber (server RSS), and
cached status reads at 500 req/s without and with the subscribers and the changes.
Results: a table on stdout, bench/results/live.json and live.md. Not part of `make bench`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import time
import uuid
from datetime import datetime
from typing import Any

import psutil

from . import loadgen
from .loadgen import get, open_loop
from .run import (
    CLIENT_CPUS,
    HOST,
    RESULTS,
    Server,
    closed_loop_once,
    database,
    emulator,
    histogram_percentiles,
    lifecycle_changes,
    log,
    seed_after_migrations,
)

SUBSCRIBERS = int(os.environ.get("BENCH_LIVE_SUBSCRIBERS", "2000"))
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "10"))
CHANGE_RATE, READ_RATE = 100, 500
OCCURRED = re.compile(rb'"occurredAt":"([0-9T:.\-]+)Z"')
GOALS = {"p99_ms": 50.0, "idle_kb": 20.0, "read_p95_ms": 1.0}


class Subscribers:
    """Raw-socket SSE clients: count `ready` events, time every `change` they receive."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ready = 0
        self.latencies: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []

    def open(self, paths: list[str]) -> None:
        self.tasks = [asyncio.create_task(self._follow(path)) for path in paths]

    async def _follow(self, path: str) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        writer.write(get(path, HOST, {"Accept": "text/event-stream"}))
        try:
            while chunk := await reader.read(65536):
                now = time.time()
                if b"event: ready" in chunk:
                    self.ready += 1
                for found in OCCURRED.finditer(chunk):
                    sent = datetime.fromisoformat(found.group(1).decode() + "+00:00").timestamp()
                    self.latencies.append(now - sent)
        finally:
            writer.close()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def topics(changed: list[str], count: int) -> list[str]:
    """95% single orders (the changed ones), 4.5% restaurant boards, 0.5% all-orders feeds."""
    boards, feeds = count * 45 // 1000, max(1, count // 200)
    orders = count - boards - feeds
    paths = [f"/api/orders/{changed[n % len(changed)]}/events" for n in range(orders)]
    paths += [f"/api/restaurants/r-{n % 50}/events" for n in range(boards)]
    return paths + ["/api/events"] * feeds


async def reads(server: Server, ids: list[str]) -> loadgen.Result:
    requests = [get(f"/api/orders/{order_id}/status", HOST) for order_id in ids]
    return await open_loop(
        HOST, server.port, lambda n: requests[n % len(requests)], rate=READ_RATE, seconds=SECONDS
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def read_summary(result: loadgen.Result) -> dict[str, Any]:
    return {**percentiles(result.latencies), "rate": result.rate, "errors": result.errors}


async def scenario(server: Server, ids: list[str]) -> dict[str, Any]:
    changed, readable = ids[:1000], ids[5000:7000]
    await closed_loop_once(server.port, [get(f"/api/orders/{i}/status", HOST) for i in readable])
    log(f"cached status reads at {READ_RATE}/s, no subscribers")
    baseline = await reads(server, readable)
    process = psutil.Process(server.process.pid if server.process else 0)
    before = process.memory_info().rss
    subscribers = Subscribers(server.port)
    subscribers.open(topics(changed, SUBSCRIBERS))
    deadline = time.monotonic() + 60
    while subscribers.ready < SUBSCRIBERS and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    idle_kb = (process.memory_info().rss - before) / max(1, subscribers.ready) / 1024
    log(f"{subscribers.ready} subscribers open ({idle_kb:.1f} KB each); changes at 100/s + reads")
    found = await under_load(server, subscribers, changed, readable)
    await subscribers.close()
    return found | {
        "subscribers": subscribers.ready,
        "idle_subscriber_kb": idle_kb,
        "reads_without": read_summary(baseline),
    }


async def under_load(
    server: Server, subscribers: Subscribers, changed: list[str], readable: list[str]
) -> dict[str, Any]:
    """Changes at 100/s and cached reads at 500/s while the subscribers listen."""
    metrics_before = server.metrics()
    client = psutil.Process()
    client_before = client.cpu_times().user + client.cpu_times().system
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    changes = lifecycle_changes(changed)
    writing = open_loop(
        HOST, server.port, lambda n: changes[n], rate=CHANGE_RATE, seconds=SECONDS, connections=16
    )
    written, loaded = await asyncio.gather(writing, reads(server, readable))
    await asyncio.sleep(2)
    hub_lag = histogram_percentiles(
        {k: v - metrics_before.get(k, 0) for k, v in server.metrics().items()},
        "orderline_live_delivery_lag_seconds",
    )
    return {
        "changes": {"rate": written.rate, "errors": written.errors, "sent": len(written.latencies)},
        "delivered": len(subscribers.latencies),
        "delivery_ms": percentiles(subscribers.latencies),
        "hub_lag_ms": {f"p{p}": hub_lag[f"p{p}_ms"] for p in (50, 95, 99)},
        "server_cpu_share": (server.cpu_seconds() - cpu_before) / (time.monotonic() - started),
        "client_cpu_share": (client.cpu_times().user + client.cpu_times().system - client_before)
        / (time.monotonic() - started),
        "reads_with": read_summary(loaded),
    }


def markdown(found: dict[str, Any]) -> str:
    d, w, o = found["delivery_ms"], found["reads_with"], found["reads_without"]
    rows = [
        ("subscribers (one process)", f"{found['subscribers']}", f"{SUBSCRIBERS}"),
        ("status changes/s (achieved)", f"{found['changes']['rate']:.0f}", f"{CHANGE_RATE}"),
        ("events delivered", f"{found['delivered']}", ""),
        ("commit → delivery p50 / p95 / p99", _ms(d), f"p99 ≤ {GOALS['p99_ms']:.0f} ms"),
        ("commit → hub p50 / p95 / p99 (server histogram)", _ms(found["hub_lag_ms"]), ""),
        ("memory per idle subscriber", f"{found['idle_subscriber_kb']:.1f} KB", "≤ 20 KB"),
        (f"cached status reads at {READ_RATE}/s, no subscribers", _ms(o), ""),
        (f"… with {found['subscribers']} subscribers + 100 changes/s", _ms(w), "p95 ≤ 1 ms"),
        ("server CPU (one core) during the load", f"{found['server_cpu_share']:.0%}", ""),
        ("load generator + subscribers CPU", f"{found['client_cpu_share']:.0%}", ""),
    ]
    lines = ["| measure | result | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def _ms(p: dict[str, float]) -> str:
    return f"{p['p50']:.2f} / {p['p95']:.2f} / {p['p99']:.2f} ms"


def main() -> None:
    os.sched_setaffinity(0, CLIENT_CPUS)
    RESULTS.mkdir(exist_ok=True)
    with database() as url, emulator() as endpoint:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLINE_")} | {
            "ORDERLINE_DATABASE_URL": url,
            "ORDERLINE_DYNAMODB_ENDPOINT": endpoint,
            "ORDERLINE_LOG_LEVEL": "warning",
            "ORDERLINE_AUTH": "false",
            "ORDERLINE_CACHE_TTL_SECONDS": "600",
            "ORDERLINE_LIVE_MAX_SUBSCRIBERS": "100000",
            "ORDERLINE_LIVE_MAX_SUBSCRIBERS_PER_PRINCIPAL": "100000",
        }
        ids = asyncio.run(seed_after_migrations(env, url, f"live{uuid.uuid4().hex[:6]}-"))
        gc.collect()
        with Server(env) as server:
            found = loadgen.run(scenario(server, ids))
    found["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    found["command"] = ".venv/bin/python -m bench.live"
    found["goals"] = GOALS
    (RESULTS / "live.json").write_text(json.dumps(found, indent=2) + "\n")
    table = markdown(found)
    (RESULTS / "live.md").write_text(
        f"# Live tracking benchmark\n\n`{found['command']}` ({found['finished']}): one API "
        f"process pinned to one core; subscribers and load on the other.\n\n{table}"
    )
    print(table)


if __name__ == "__main__":
    main()
