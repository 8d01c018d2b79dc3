"""`make bench`: every scenario of issue 5 against a real server, PostgreSQL and the emulator.

The server (`orderline serve`) is pinned to CPU 0; this process (load generator), the DynamoDB
emulator and everything else to CPU 1 when the machine has two or more. Results: one Markdown
table on stdout and in bench/results/latest.md, JSON in bench/results/latest.json, a chart in
bench/results/latest.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from orderline.auth.dev import DevSigner
from orderline.domain.access import Role

from . import loadgen, report, wrk
from .cli import help_only
from .data import (
    LIFECYCLE,
    Writes,
    batches_of_ten,
    cycling,
    fill_read_model,
    lifecycle_changes,
    seed,
    seed_after_migrations,
    shuffled,
    status_reads,
    zipf_sequence,
)
from .loadgen import Result, closed_loop, get, open_loop, post
from .measures import (
    closed_loop_once,
    delta,
    histogram_percentiles,
    raw_asyncpg_rate,
    raw_get_item,
)
from .services import (
    CLIENT_CPUS,
    CPUS,
    HOST,
    RESULTS,
    SERVER_CPUS,
    Server,
    database,
    dynamodb_local_emulator,
    emulator,
    log,
)
from .wrk import Request

RATES = (200, 500, 1000)
RUN_SECONDS = float(os.environ.get("BENCH_RUN_SECONDS", "8"))
ZIPF_SECONDS = float(os.environ.get("BENCH_ZIPF_SECONDS", "300"))
ZIPF_RATE = 200  # what one server core sustains with a cold cache (see docs)


def measure(
    server: Server, requests: list[Request], authorization: str | None = None
) -> dict[str, Any]:
    """The fixed rates (open loop), then saturation (wrk, or the Python closed loop)."""
    headers = {"Authorization": authorization} if authorization else None
    make = cycling(requests, headers)
    runs: dict[str, Any] = {}
    for rate in RATES:
        runs[str(rate)] = loadgen.run(
            open_loop(HOST, server.port, make, rate=rate, seconds=RUN_SECONDS)
        ).summary()
    if wrk.available():
        runs["saturation"] = wrk.saturate(
            server.base, requests, seconds=RUN_SECONDS, authorization=authorization
        )
    else:
        closed = loadgen.run(closed_loop(HOST, server.port, make, seconds=RUN_SECONDS))
        runs["saturation"] = closed.summary() | {"tool": "python"}
    return runs


def warm(server: Server, ids: list[str], headers: dict[str, str] | None = None) -> None:
    requests = [get(f"/api/orders/{i}/status", HOST, headers) for i in ids]
    asyncio.run(closed_loop_once(server.port, requests))


def main() -> None:
    help_only(__doc__, "BENCH_ZIPF_SECONDS=60 make bench")
    os.sched_setaffinity(0, CLIENT_CPUS)  # children (emulators, PostgreSQL) inherit it
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "machine": {
            "cpus": len(CPUS),
            "server_cpus": sorted(SERVER_CPUS),
            "client_cpus": sorted(CLIENT_CPUS),
            "note": "server pinned apart from the load generator; the DynamoDB emulator and "
            "PostgreSQL share the generator's side",
        },
        "run_seconds": RUN_SECONDS,
        "scenarios": {},
        "emulators": {},
    }
    with database() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLINE_")} | {
            "ORDERLINE_DATABASE_URL": url,
            "ORDERLINE_LOG_LEVEL": "warning",
            "ORDERLINE_BENCH_ENDPOINTS": "true",
            "ORDERLINE_AUTH": "false",  # the scenarios measure the pipeline; 1e measures auth
        }
        prefix = f"bench{uuid.uuid4().hex[:6]}-"
        ids = asyncio.run(seed_after_migrations(env, url, prefix))
        order = shuffled(ids, 1)
        writes = Writes(lifecycle_changes(order))
        with emulator() as endpoint:
            moto_env = env | {"ORDERLINE_DYNAMODB_ENDPOINT": endpoint}
            results["emulators"]["moto"] = dynamodb_scenarios(moto_env, prefix, order, writes)
            results["scenarios"] |= other_scenarios(moto_env, prefix, order)
            zipf_prefix = f"zipf{uuid.uuid4().hex[:6]}-"
            zipf_ids = asyncio.run(seed(url, 100_000, "z-"))
            log(f"3: Zipf reads for {ZIPF_SECONDS:.0f} s over 100,000 orders")
            results["zipf"] = zipf(moto_env, zipf_prefix, zipf_ids)
        with dynamodb_local_emulator() as endpoint:
            if endpoint is not None:
                local_env = env | {"ORDERLINE_DYNAMODB_ENDPOINT": endpoint}
                results["emulators"]["DynamoDB Local"] = dynamodb_scenarios(
                    local_env, prefix, order, writes
                )
    report.write_results(results, RESULTS)


def dynamodb_scenarios(
    env: dict[str, str], prefix: str, order: list[str], writes: Writes
) -> dict[str, Any]:
    """The scenarios that exercise DynamoDB (1b, 2 uncached, 4, 5, 6) on one emulator."""
    endpoint = env["ORDERLINE_DYNAMODB_ENDPOINT"]
    scenarios: dict[str, Any] = {}
    with Server(env, table_prefix=prefix):  # tables
        pass
    asyncio.run(fill_read_model(env["ORDERLINE_DATABASE_URL"], endpoint, prefix, order))
    log(f"read model filled on {endpoint}")
    with Server(env, table_prefix=prefix, cache_size=0) as server:
        log("1b: DynamoDB hit, cache off")
        scenarios["1b status, DynamoDB hit (cache off)"] = measure(server, status_reads(order))
        log("2: batch of 10, uncached")
        scenarios["2 batch of 10, uncached"] = measure(server, batches_of_ten(order))
    for label, write_through in (("on", "true"), ("off", "false")):
        with Server(env, table_prefix=prefix, write_through=write_through) as server:
            log(f"4: status change, write-through {label}")
            scenarios[f"4 status change at 100/s, write-through {label}"] = changes_at_100(
                server, writes
            )
    log("6: raw GetItem")
    return {
        "scenarios": scenarios,
        "sustained": sustained(env, prefix, env["ORDERLINE_DATABASE_URL"], order, writes),
        "raw_get_item": asyncio.run(raw_get_item(endpoint, prefix, order[0], 1000)),
    }


def other_scenarios(env: dict[str, str], prefix: str, order: list[str]) -> dict[str, Any]:
    """Cache hits, floors and the PostgreSQL-only baseline (DynamoDB is not on their path)."""
    scenarios: dict[str, Any] = {}
    with Server(env, table_prefix=prefix, cache_ttl_seconds=3600) as server:
        warm(server, order)
        log("1a: cache hit")
        scenarios["1a status, cache hit"] = measure(server, status_reads(order))
        log("2: batch of 10, cached")
        scenarios["2 batch of 10, cached"] = measure(server, batches_of_ten(order))
        log("1d: floors")
        scenarios["1d floor, FastAPI hello world"] = measure(
            server, [("GET", "/bench/fastapi", b"")]
        )
        scenarios["1d floor, bare ASGI (generator floor)"] = measure(
            server, [("GET", "/bench/asgi", b"")]
        )
    scenarios["1e status, cache hit, authentication on"] = authenticated_reads(env, prefix, order)
    with Server(env, table_prefix=prefix, read_model="false") as server:
        log("1c: PostgreSQL only")
        scenarios["1c status, PostgreSQL only (read model off)"] = measure(
            server, status_reads(order)
        )
    return scenarios


def authenticated_reads(env: dict[str, str], prefix: str, order: list[str]) -> dict[str, Any]:
    """1e: 1a with authentication on: a bearer token per request, verified once and then
    served from the verified-token cache; the rate limiter on (at a limit never reached)."""
    with tempfile.TemporaryDirectory() as data_dir:
        auth = {
            "auth": "true",
            "data_dir": data_dir,
            "rate_limit_per_second": 1_000_000,
            "rate_limit_burst": 1_000_000,
        }
        token = DevSigner(Path(data_dir), issuer="orderline", audience="orderline-api").issue(
            "bench", Role.STAFF, scopes=("orders:admin",), ttl_seconds=3600
        )
        bearer = f"Bearer {token}"
        with Server(env, table_prefix=prefix, cache_ttl_seconds=3600, **auth) as server:
            warm(server, order, {"Authorization": bearer})
            log("1e: cache hit, authentication on")
            return measure(server, status_reads(order), bearer)


def changes_at_100(server: Server, writes: Writes) -> dict[str, Any]:
    """4: status changes at 100/s, the projection lag and the counter lag (commit -> counted
    by the stream aggregator) the server's histograms saw."""
    before = server.metrics()
    run = loadgen.run(open_loop(HOST, server.port, writes.take(), rate=100, seconds=RUN_SECONDS))
    writes.used(int(100 * RUN_SECONDS))
    time.sleep(5)  # let the last events project and be counted before reading the histograms
    after = server.metrics()
    moved = {k: v - before.get(k, 0) for k, v in after.items()}
    return {
        "100": run.summary(),
        "projection_lag": histogram_percentiles(moved, "orderline_projection_lag_seconds"),
        "counter_lag": histogram_percentiles(moved, "orderline_counter_lag_seconds", within=2.0),
    }


def sustained(
    env: dict[str, str], prefix: str, url: str, order: list[str], writes: Writes
) -> dict[str, Any]:
    """5: status changes at saturation (write-through off), then the same SQL from asyncpg."""
    with Server(env, table_prefix=prefix, write_through="false") as server:
        before, cpu = server.metrics(), server.cpu_seconds()
        log("5: sustained status changes")
        run = loadgen.run(
            closed_loop(HOST, server.port, writes.take(), seconds=RUN_SECONDS, connections=16)
        )
        writes.used(sum(run.statuses.values()) + run.errors)
        backlog_at_end = server.metrics().get("orderline_outbox_backlog", 0)
        stopped, cpu_at_stop = time.monotonic(), server.cpu_seconds()
        while (
            server.metrics().get("orderline_outbox_backlog", 0) > 0
            and time.monotonic() < stopped + 120
        ):
            time.sleep(0.2)
        drained_after = time.monotonic() - stopped
        drain_cpu = server.cpu_seconds() - cpu_at_stop
        time.sleep(2)
        after, cpu_used = server.metrics(), server.cpu_seconds() - cpu
    applied = delta(after, before, r'orderline_projected_events_total\{outcome="applied"\}')
    calls = delta(after, before, r"orderline_dynamodb_calls_total\{.*\}")
    log("5: raw asyncpg baseline")
    spare = [i for i in order[-2500:]]
    raw = asyncio.run(raw_asyncpg_rate(url, spare, RUN_SECONDS, 16))
    return {
        "orderline": run.summary(),
        "backlog_at_end": backlog_at_end,
        "drained_after_seconds": round(drained_after, 1),
        # every change committed and projected, over the time that took: what the whole
        # pipeline sustains (the API alone outruns the relay that shares its core)
        "end_to_end_rate": round(len(run.latencies) / (run.duration + drained_after), 1),
        "raw_asyncpg_rate": round(raw, 1),
        "ratio": round(run.rate / raw, 3) if raw else None,
        "dynamodb_calls_per_event": round(calls / applied, 3) if applied else None,
        "server_cpu_ms_per_change": round(cpu_used / max(1, len(run.latencies)) * 1000, 3),
        # after the load: only the relay and projector (and 5 /metrics polls a second) run
        "drain_cpu_ms_per_event": round(drain_cpu / backlog_at_end * 1000, 3)
        if backlog_at_end
        else None,
        "events_projected": applied,
    }


def zipf(env: dict[str, str], prefix: str, ids: list[str]) -> dict[str, Any]:
    """3: Zipf(1.1) reads with status changes at 5 % of that, in the single-process deployment.

    One process commits every change, so its cache is kept fresh by its own events and may keep
    entries for an hour; it is warmed with every order at start, as a long-running process would
    be. With the default 5 s TTL and a cold start, the hit rate is bounded by the first touches
    of the Zipf tail (see docs/benchmarks.md).
    """
    rng = random.Random(3)
    reads = zipf_sequence(int(ZIPF_RATE * ZIPF_SECONDS), len(ids), 1.1, rng)
    read_requests = [get(f"/api/orders/{ids[i]}/status", HOST) for i in reads]
    progress: dict[str, int] = {}
    change_requests = []
    for i in zipf_sequence(int(ZIPF_RATE * 0.05 * ZIPF_SECONDS) * 2, len(ids), 1.1, rng):
        step = progress.get(ids[i], 0)
        if step < len(LIFECYCLE):
            progress[ids[i]] = step + 1
            body = json.dumps({"status": LIFECYCLE[step]}).encode()
            change_requests.append(post(f"/api/orders/{ids[i]}/status", HOST, body))
    with Server(
        env, table_prefix=prefix, cache_ttl_seconds=3600, cache_warm_orders=len(ids)
    ) as server:
        before = server.metrics()

        async def both() -> tuple[Result, Result]:
            return await asyncio.gather(
                open_loop(
                    HOST,
                    server.port,
                    lambda n: read_requests[n],
                    rate=ZIPF_RATE,
                    seconds=ZIPF_SECONDS,
                ),
                open_loop(
                    HOST,
                    server.port,
                    lambda n: change_requests[n % len(change_requests)],
                    rate=ZIPF_RATE * 0.05,
                    seconds=ZIPF_SECONDS,
                    connections=8,
                ),
            )

        read_run, change_run = loadgen.run(both())
        after = server.metrics()
    tiers = {
        tier: delta(
            after, before, rf'orderline_reads_total\{{result="hit",tier="{tier}",view="status"\}}'
        )
        for tier in ("cache", "dynamodb", "postgres")
    }
    total = sum(tiers.values()) or 1
    return {
        "rate": ZIPF_RATE,
        "seconds": ZIPF_SECONDS,
        "reads": read_run.summary(),
        "changes": change_run.summary(),
        "hits": tiers,
        "hit_rate": {tier: round(count / total, 4) for tier, count in tiers.items()},
    }


if __name__ == "__main__":
    main()
