"""`python -m bench.live`: live tracking under load (issues 15 and 23), against `orderline serve`
and, in the same run, a peer built on `sse-starlette` (bench/live_peer.py).

One API process (pinned to the server CPU) with SUBSCRIBERS SSE subscribers (95 % following one
order each, 4.5 % restaurant boards, 0.5 % all-orders feeds) while status changes flow at
100/s through the API: commit-to-delivery latency (the event's `occurredAt`, stamped just before
its commit, to the moment the subscriber's socket read returns it), where the time went (the
server's stage histograms: notify, read, release, queue, write), memory per idle subscriber
(server RSS delta over IDLE_SUBSCRIBERS idle streams), cached status reads at 500 req/s without
and with the subscribers and the changes, and CPU per delivered event.

Then the peer, pinned to the same CPU beside the API (which still takes the writes and the
reads): the same idle subscribers, the same subscribers and load (the next status of the same
orders), fed the same way (LISTEN on the API's channel, then the outbox). Its CPU per event
counts the API's and the peer's (the same writes and reads are in ours).
Results: a table on stdout, bench/results/live.json and live.md. Not part of `make bench`.
Sizes: BENCH_LIVE_SUBSCRIBERS (2000), BENCH_LIVE_IDLE_SUBSCRIBERS (10000), BENCH_LIVE_SECONDS (10).
BENCH_LIVE_ONLY_OURS=1 skips the peer and prints only orderline's figures and stage breakdown
(to explain where time goes; it writes no results).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import psutil

from . import loadgen
from .cli import help_only
from .data import lifecycle_changes, seed_after_migrations
from .live_report import CHANGE_RATE, GOALS, READ_RATE, markdown, stage_table
from .loadgen import get, open_loop
from .measures import closed_loop_once, histogram_percentiles
from .process_stats import cpu_seconds, rss_bytes
from .services import (
    CLIENT_CPUS,
    HOST,
    RESULTS,
    SERVER_CPUS,
    Server,
    database,
    emulator,
    loadgen_port,
    log,
    wait_for,
)

SUBSCRIBERS = int(os.environ.get("BENCH_LIVE_SUBSCRIBERS", "2000"))
IDLE_SUBSCRIBERS = int(os.environ.get("BENCH_LIVE_IDLE_SUBSCRIBERS", "10000"))
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "10"))
ONLY_OURS = os.environ.get("BENCH_LIVE_ONLY_OURS", "") == "1"
OPEN_WAVE = 500  # subscribers connecting at once (under the listen backlog)
OCCURRED = re.compile(rb'"occurredAt":"([0-9T:.\-]+)Z"')
STAGES = ("wait", "notify", "held", "read", "release", "queue", "write")


class Subscribers:
    """Raw-socket SSE clients: count `ready` events, time every `change` they receive."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ready = 0
        self.latencies: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, paths: list[str]) -> None:
        """Connect in waves of OPEN_WAVE, each once its streams are ready (or after 30 s)."""
        for first in range(0, len(paths), OPEN_WAVE):
            wave = paths[first : first + OPEN_WAVE]
            self.tasks += [asyncio.create_task(self._follow(path)) for path in wave]
            deadline = time.monotonic() + 30
            while self.ready < len(self.tasks) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

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


class Peer:
    """bench/live_peer.py (sse-starlette) pinned to the server CPU, fed from `url`'s outbox."""

    def __init__(self, url: str) -> None:
        self.port = loadgen_port()
        self.url = url
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Peer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.live_peer", str(self.port), self.url],
            preexec_fn=lambda: os.sched_setaffinity(0, SERVER_CPUS),
            stdout=subprocess.DEVNULL,
        )
        ready = f"http://{HOST}:{self.port}/ready"
        wait_for(lambda: httpx.get(ready, timeout=2).status_code == 200)
        return self

    def __exit__(self, *_: Any) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


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


async def idle_memory(pid: int, port: int, changed: list[str]) -> dict[str, float]:
    """KB of server RSS per idle subscriber, IDLE_SUBSCRIBERS of them open at once."""
    process = psutil.Process(pid)
    gc.collect()
    before = rss_bytes(process)
    subscribers = Subscribers(port)
    await subscribers.open(topics(changed, IDLE_SUBSCRIBERS))
    await asyncio.sleep(2)
    kb_each = (rss_bytes(process) - before) / max(1, subscribers.ready) / 1024
    await subscribers.close()
    await asyncio.sleep(2)  # the server lets them go before the next phase
    log(f"{subscribers.ready} idle subscribers: {kb_each:.1f} KB each")
    return {"subscribers": subscribers.ready, "kb_each": kb_each}


async def scenario(server: Server, ids: list[str], url: str) -> dict[str, Any]:
    changed, readable = ids[:1000], ids[5000:7000]
    await closed_loop_once(server.port, [get(f"/api/orders/{i}/status", HOST) for i in readable])
    log(f"cached status reads at {READ_RATE}/s, no subscribers")
    baseline = await reads(server, readable)
    assert server.process is not None
    ours = {"idle": await idle_memory(server.process.pid, server.port, changed)}
    ours |= await delivery(server, server.port, [server.process.pid], changed, readable, 0)
    if ONLY_OURS:
        ours.pop("last_pid_cpu_per_event_ms")
        return {"orderline": ours, "reads_without": read_summary(baseline)}
    log("the peer (sse-starlette)")
    with Peer(url) as peer:
        theirs = {"idle": await idle_memory(peer.pid, peer.port, changed)}
        pids = [server.process.pid, peer.pid]
        offset = max(len(changed), int(CHANGE_RATE * SECONDS))  # the same orders' next status
        theirs |= await delivery(server, peer.port, pids, changed, readable, offset)
        theirs["peer_cpu_per_event_ms"] = theirs.pop("last_pid_cpu_per_event_ms")
    ours.pop("last_pid_cpu_per_event_ms")
    split = await streams_apart(server, changed, readable, 2 * offset)
    return {
        "orderline": ours,
        "sse_starlette": theirs,
        "orderline_streams_apart": split,
        "reads_without": read_summary(baseline),
    }


async def streams_apart(
    server: Server, changed: list[str], readable: list[str], at: int
) -> dict[str, Any]:
    """Ours in the peer's shape: the streams on a second API process (no workers) on the same
    core, while the first takes the writes and the reads."""
    log("orderline with its streams on a second API process (the peer's shape)")
    with Server(server.env | {"ORDERLINE_WORKERS": "false"}) as streams:
        assert server.process is not None and streams.process is not None
        pids = [server.process.pid, streams.process.pid]
        found = await delivery(server, streams.port, pids, changed, readable, at, hub=streams)
    found["streams_cpu_per_event_ms"] = found.pop("last_pid_cpu_per_event_ms")
    return found


async def delivery(
    server: Server,
    port: int,
    pids: list[int],
    changed: list[str],
    readable: list[str],
    at: int,
    hub: Server | None = None,
) -> dict[str, Any]:
    """SUBSCRIBERS streams on `port` while changes (from change `at` on) and reads flow to
    `server`; the stage histograms are `hub`'s (the process serving the streams)."""
    hub = hub or server
    subscribers = Subscribers(port)
    await subscribers.open(topics(changed, SUBSCRIBERS))
    await asyncio.sleep(2)
    log(f"{subscribers.ready} subscribers open; changes at {CHANGE_RATE}/s + reads")
    metrics_before = hub.metrics()
    client = psutil.Process()
    client_before = cpu_seconds(client.pid)
    cpu_before, last_before, started = cpu_seconds(*pids), cpu_seconds(pids[-1]), time.monotonic()
    changes = lifecycle_changes(changed)
    writing = open_loop(
        HOST,
        server.port,
        lambda n: changes[(at + n) % len(changes)],
        rate=CHANGE_RATE,
        seconds=SECONDS,
        connections=16,
    )
    written, loaded = await asyncio.gather(writing, reads(server, readable))
    await asyncio.sleep(2)
    elapsed, delivered = time.monotonic() - started, max(1, len(subscribers.latencies))
    cpu, last_cpu = cpu_seconds(*pids) - cpu_before, cpu_seconds(pids[-1]) - last_before
    await subscribers.close()
    grown = {k: v - metrics_before.get(k, 0) for k, v in hub.metrics().items()}
    return {
        "subscribers": subscribers.ready,
        "changes": {"rate": written.rate, "errors": written.errors, "sent": len(written.latencies)},
        "delivered": len(subscribers.latencies),
        "delivery_ms": percentiles(subscribers.latencies),
        "hub_lag_ms": _histogram(grown, "orderline_live_delivery_lag_seconds"),
        "stages_ms": {stage: _stage(grown, stage) for stage in STAGES},
        "full_collections": grown.get('python_gc_collections_total{generation="2"}', 0.0),
        "server_cpu_share": cpu / elapsed,
        "cpu_per_event_ms": cpu / delivered * 1000,
        "last_pid_cpu_per_event_ms": last_cpu / delivered * 1000,
        "client_cpu_share": (cpu_seconds(client.pid) - client_before) / elapsed,
        "reads_with": read_summary(loaded),
    }


def _histogram(samples: dict[str, float], name: str) -> dict[str, float]:
    found = histogram_percentiles(samples, name)
    return {f"p{p}": found[f"p{p}_ms"] for p in (50, 95, 99)} | {"count": found["count"]}


def _stage(samples: dict[str, float], stage: str) -> dict[str, float]:
    """One stage of orderline_live_stage_seconds, as an unlabelled histogram's percentiles."""
    name, label = "orderline_live_stage_seconds", f'stage="{stage}"'
    only = {
        key.replace(f",{label}", "").replace(f"{label},", "").replace(f"{{{label}}}", ""): value
        for key, value in samples.items()
        if key.startswith(name) and label in key
    }
    return _histogram(only, name)


def main() -> None:
    help_only(
        __doc__, "BENCH_LIVE_ONLY_OURS=1 BENCH_LIVE_SECONDS=15 .venv/bin/python -m bench.live"
    )
    os.sched_setaffinity(0, CLIENT_CPUS)
    _, most = resource.getrlimit(resource.RLIMIT_NOFILE)  # 10,000 sockets each side
    resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
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
            found = loadgen.run(scenario(server, ids, url))
    if ONLY_OURS:
        print(json.dumps(found["orderline"], indent=1))
        print(stage_table(found["orderline"]))
        return
    found["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    found["command"] = ".venv/bin/python -m bench.live"
    found["sizes"] = {"subscribers": SUBSCRIBERS, "idle": IDLE_SUBSCRIBERS, "seconds": SECONDS}
    found["goals"] = GOALS
    (RESULTS / "live.json").write_text(json.dumps(found, indent=2) + "\n")
    table = markdown(found)
    (RESULTS / "live.md").write_text(
        f"# Live tracking benchmark\n\n`{found['command']}` ({found['finished']}): one API "
        "process pinned to one core (the sse-starlette peer beside it, on the same core); "
        f"subscribers and load on the other.\n\n{table}"
    )
    print(table)


if __name__ == "__main__":
    main()
