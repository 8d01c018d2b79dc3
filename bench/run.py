"""`make bench`: every scenario of issue 5 against a real server, PostgreSQL and the emulator.

The server (`orderline serve`) is pinned to CPU 0; this process (load generator), the DynamoDB
emulator and everything else to CPU 1 when the machine has two or more. Results: one Markdown
table on stdout and in bench/results/latest.md, JSON in bench/results/latest.json, a chart in
bench/results/latest.png.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from orderline import dynamodb_local
from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.postgres.repository import LOCK_ORDER, UPDATE_AND_APPEND
from orderline.auth.dev import DevSigner
from orderline.config import Settings
from orderline.domain.access import Role

from . import loadgen, report, wrk
from .cli import help_only
from .loadgen import Result, closed_loop, get, open_loop, post
from .process_stats import cpu_seconds
from .wrk import Request

ROOT = Path(__file__).parent
RESULTS = ROOT / "results"
TOOLS = ROOT.parent / ".tools"
ORDERLINE = Path(sys.executable).with_name("orderline")
HOST = "127.0.0.1"
RATES = (200, 500, 1000)
RUN_SECONDS = float(os.environ.get("BENCH_RUN_SECONDS", "8"))
ZIPF_SECONDS = float(os.environ.get("BENCH_ZIPF_SECONDS", "300"))
ZIPF_RATE = 200  # what one server core sustains with a cold cache (see docs)
LIFECYCLE = ("CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED")
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = {CPUS[0]}
CLIENT_CPUS = set(CPUS[1:]) or {CPUS[0]}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- services --------------------------------------------------------------------------------


@contextmanager
def database() -> Any:
    """A scratch database on the machine's PostgreSQL (or BENCH_DATABASE_URL, or pgserver)."""
    base = os.environ.get("BENCH_DATABASE_URL")
    with ExitStack() as stack:
        if base is None:
            if subprocess.run(["pg_isready", "-q", "-h", HOST], check=False).returncode == 0:
                base = f"postgresql://postgres@{HOST}:5432/postgres"
            else:
                from orderline.embedded import embedded_postgres

                base = stack.enter_context(embedded_postgres(ROOT / ".pgdata"))
        name = f"bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
        try:
            yield base.rsplit("/", 1)[0] + f"/{name}"
        finally:
            asyncio.run(_admin(base, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def emulator() -> Any:
    port = loadgen_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.emulator", str(port)],
        cwd=ROOT.parent,
        preexec_fn=lambda: os.sched_setaffinity(0, CLIENT_CPUS),
    )
    endpoint = f"http://{HOST}:{port}"
    wait_for(lambda: httpx.post(endpoint, timeout=1).status_code < 600)
    try:
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy with a request: the run's results matter more
            process.kill()
            process.wait()


def loadgen_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_for(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError("service did not come up")


class Server:
    """`orderline serve` pinned to the server CPU, with settings for one scenario."""

    def __init__(self, env: dict[str, str], **settings: Any) -> None:
        self.port = loadgen_port()
        self.env = env | {f"ORDERLINE_{k.upper()}": str(v) for k, v in settings.items()}
        self.env["ORDERLINE_PORT"] = str(self.port)
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://{HOST}:{self.port}"

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            [str(ORDERLINE), "serve"],
            env=self.env,
            preexec_fn=lambda: os.sched_setaffinity(0, SERVER_CPUS),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200)
        return self

    def __exit__(self, *_: Any) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, keyed by its full name with labels."""
        samples = {}
        for line in httpx.get(f"{self.base}/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples


# -- data ------------------------------------------------------------------------------------


async def seed(url: str, count: int, prefix: str) -> list[str]:
    """`count` PENDING orders straight into PostgreSQL (the read model fills itself on reads)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            INSERT INTO orders (id, customer_id, restaurant_id, channel_id, status, currency,
                total_amount, street, city, postal_code, latitude, longitude, tracking_code,
                created_at, updated_at, version)
            SELECT gen_random_uuid(), $1 || (i % 1000), 'r-' || (i % 50), 'web', 'PENDING', 'USD',
                31.98, '1 Main St', 'New York', '10001', 40.7, -74.0, 'TRK-' || i, now(), now(), 1
            FROM generate_series(1, $2) AS i
            RETURNING id
            """,
            prefix,
            count,
        )
        ids = [str(row["id"]) for row in rows]
        await conn.execute(
            """
            INSERT INTO order_items (order_id, position, item_id, name, quantity, unit_price,
                total_price)
            SELECT id, 0, 'pizza', 'Pizza', 2, 15.99, 31.98 FROM orders WHERE customer_id LIKE $1
            """,
            prefix + "%",
        )
        return ids
    finally:
        await conn.close()


async def fill_read_model(url: str, endpoint: str, prefix: str, ids: list[str]) -> None:
    """Write every order's status and details items, as the projector would (BatchWriteItem)."""
    from orderline.adapters.dynamodb.codec import to_item
    from orderline.adapters.postgres.engine import build_engine
    from orderline.adapters.postgres.queries import PostgresOrderQueries
    from orderline.readmodel import documents as docs

    engine = build_engine(url, pool_size=2)
    queries = PostgresOrderQueries(engine)
    ttl = docs.Expiry().status_ttl(datetime.now(UTC))
    async with dynamodb_client(Settings(dynamodb_endpoint=endpoint)) as client:
        for start in range(0, len(ids), 100):
            chunk = [uuid.UUID(order_id) for order_id in ids[start : start + 100]]
            documents = await queries.get_many(chunk)
            items = [(f"{prefix}order-status", docs.status_item(d, ttl)) for d in documents] + [
                (f"{prefix}order-details", docs.details_item(d, ttl)) for d in documents
            ]
            for first in range(0, len(items), 25):
                request: dict[str, Any] = {}
                for table, item in items[first : first + 25]:
                    request.setdefault(table, []).append({"PutRequest": {"Item": to_item(item)}})
                while request:
                    response = await client.batch_write_item(RequestItems=request)
                    request = response.get("UnprocessedItems") or {}
    await engine.dispose()


def status_reads(ids: list[str]) -> list[Request]:
    return [("GET", f"/api/orders/{order_id}/status", b"") for order_id in ids]


def cycling(
    requests: list[Request], headers: dict[str, str] | None = None
) -> loadgen.RequestFactory:
    """The generator's view of a request list: request `n` is item `n` modulo its length."""
    encoded = [
        post(path, HOST, body) if method == "POST" else get(path, HOST, headers)
        for method, path, body in requests
    ]
    return lambda n: encoded[n % len(encoded)]


def shuffled(ids: list[str], seed: int) -> list[str]:
    copy = list(ids)
    random.Random(seed).shuffle(copy)
    return copy


# -- scenarios -------------------------------------------------------------------------------


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


async def closed_loop_once(port: int, requests: list[bytes], connections: int = 16) -> Result:
    """Send each request once, `connections` at a time."""
    queue = iter(requests)
    result = Result()

    async def worker() -> None:
        connection = loadgen._Connection(HOST, port)
        try:
            for request in queue:
                started = time.perf_counter()
                status = await connection.request(request)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return result


def lifecycle_changes(ids: list[str]) -> list[bytes]:
    """Status changes that are all allowed: every order one step, then the next step, ..."""
    return [
        post(
            f"/api/orders/{order_id}/status",
            HOST,
            json.dumps({"status": status}).encode(),
        )
        for status in LIFECYCLE
        for order_id in ids
    ]


def histogram_percentiles(
    samples: dict[str, float], name: str, within: float = 0.1
) -> dict[str, float]:
    """p50/p95/p99 of a Prometheus histogram, interpolated within the bucket that holds each (as
    PromQL's histogram_quantile does), and the share of samples at or under `within` seconds
    (exact when `within` is a bucket bound)."""
    buckets = sorted(
        (float(m.group(1)), value)
        for key, value in samples.items()
        if (m := re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', key)) and m.group(1) != "+Inf"
    )
    total = samples.get(f"{name}_count", 0)
    found: dict[str, float] = {"count": total}
    for p in (50, 95, 99):
        target, lower, below = total * p / 100, 0.0, 0.0
        found[f"p{p}_ms"] = math.inf
        for bound, count in buckets:
            if count >= target and count > below:
                found[f"p{p}_ms"] = round(
                    (lower + (bound - lower) * (target - below) / (count - below)) * 1000, 1
                )
                break
            lower, below = bound, count
    inside = dict(buckets).get(within, 0)
    found["share_within"] = round(inside / total, 4) if total else math.nan
    found["within_ms"] = within * 1000
    return found


def delta(after: dict[str, float], before: dict[str, float], pattern: str) -> float:
    return sum(v - before.get(k, 0) for k, v in after.items() if re.fullmatch(pattern, k))


def raw_statement(statement: Any) -> tuple[str, Callable[[dict[str, Any]], list[Any]]]:
    """One of the repository's statements as asyncpg receives it: its SQL text, and a function
    that puts named values in its positional order (with the constants SQLAlchemy bound)."""
    compiled = statement.compile(dialect=asyncpg_dialect())
    names, constants = list(compiled.positiontup or []), compiled.params
    return str(compiled), lambda values: [values.get(n, constants.get(n)) for n in names]


async def raw_asyncpg_rate(url: str, ids: list[str], seconds: float, connections: int) -> float:
    """The statements a status change sends, from a bare asyncpg loop: the write-path ceiling.

    The same SQL text (compiled from the repository's statements) in the same transaction shape:
    BEGIN, lock the order with its items, update it and append the outbox row with its NOTIFY
    (one statement), COMMIT. No HTTP, validation, domain model, SQLAlchemy, relay or projection.
    """
    lock, lock_args = raw_statement(LOCK_ORDER)
    change_sql, change_args = raw_statement(UPDATE_AND_APPEND)
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    # the raw loop checks no transitions, so it may cycle through the same orders
    steps = itertools.cycle([(order_id, status) for status in LIFECYCLE for order_id in ids])
    done = 0
    deadline = time.perf_counter() + seconds

    async def change(conn: asyncpg.Connection, order_id: uuid.UUID, status: str) -> None:
        async with conn.transaction():
            row = dict(await conn.fetchrow(lock, *lock_args({"order_id": order_id})))
            values = row | {
                "status": status,
                "version": row["version"] + 1,
                "updated_at": datetime.now(UTC),
                "order_id": order_id,
                "loaded_version": row["version"],
            }
            event = values | {
                "event_id": uuid.uuid4(),
                "order_id": order_id,
                "order_version": row["version"] + 1,
                "event_type": "OrderStatusChanged",
                "payload": "{}",
                "hold": timedelta(0),
                "attempts": 0,
                "channel": "bench_raw",
            }
            await conn.fetchrow(change_sql, *change_args(event))

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                order_id, status = next(steps)
                await change(conn, uuid.UUID(order_id), status)
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    await pool.close()
    return done / (time.perf_counter() - started)


async def raw_get_item(endpoint: str, prefix: str, order_id: str, count: int) -> dict[str, float]:
    settings = Settings(dynamodb_endpoint=endpoint)
    async with dynamodb_client(settings) as client:
        key = {"orderId": {"S": order_id}}
        table = f"{prefix}order-status"
        await client.get_item(TableName=table, Key=key)
        latencies = []
        cpu = time.process_time()
        for _ in range(count):
            started = time.perf_counter()
            await client.get_item(TableName=table, Key=key)
            latencies.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
    result = Result(latencies=latencies, duration=sum(latencies))
    return result.summary() | {"client_cpu_ms_per_call": round(cpu / count * 1000, 3)}


def zipf_sequence(count: int, population: int, s: float, rng: random.Random) -> list[int]:
    weights = list(itertools.accumulate(1 / (k**s) for k in range(1, population + 1)))
    top = weights[-1]
    return [bisect.bisect_left(weights, rng.random() * top) for _ in range(count)]


# -- the run ---------------------------------------------------------------------------------


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


async def seed_after_migrations(env: dict[str, str], url: str, prefix: str) -> list[str]:
    with emulator() as endpoint, Server(env | {"ORDERLINE_DYNAMODB_ENDPOINT": endpoint}):
        pass  # migrations
    ids = await seed(url, 10_000, "c-")
    log("seeded 10,000 orders")
    return ids


class Writes:
    """Allowed status changes, handed out once each across every scenario and emulator."""

    def __init__(self, changes: list[bytes]) -> None:
        self.changes = changes
        self.next = 0

    def take(self) -> loadgen.RequestFactory:
        """A request factory starting at the next unused change; `used` moves the mark on."""
        start = self.next
        return lambda n: self.changes[(start + n) % len(self.changes)]

    def used(self, count: int) -> None:
        self.next += count


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


def batches_of_ten(order: list[str]) -> list[Request]:
    return [
        ("GET", "/api/orders/status?ids=" + ",".join(order[i : i + 10]), b"")
        for i in range(0, len(order), 10)
    ]


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


@contextmanager
def dynamodb_local_emulator() -> Any:
    """AWS's DynamoDB Local (in memory) when this machine can run it; else None, said once."""
    reason = dynamodb_local.unavailable_reason(TOOLS)
    if reason is not None:
        log(f"DynamoDB Local pass skipped: {reason}")
        yield None
        return
    with dynamodb_local.running(TOOLS) as endpoint:
        yield endpoint


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
