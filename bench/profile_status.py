"""Where the server's CPU goes on a status change: process CPU time per change, and py-spy.

    python -m bench.profile_status --changes 4000 --connections 16
    python -m bench.profile_status --write-through off --raw /tmp/status.stacks

Seeds orders straight into a scratch database (as `make bench`), starts the moto emulator in a
process of its own and `orderline serve` (authentication off, as the bench's scenario 5, unless
`--auth`), and sends `POST /api/orders/{id}/status` in a closed loop on `--connections`
keep-alive connections: first a warm-up, then `--changes` requests measured by the server
process's CPU time (user + system, psutil) without a profiler, then as many again sampled by
`py-spy record --pid` (it needs ptrace; `--profiler none` skips it). The samples are grouped by
component (the first rule in `COMPONENTS` that a stack matches) and printed as a table of
percentages, with a one-line summary; `--raw` keeps the collapsed stacks (for flamegraph.pl,
inferno or speedscope).
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
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orderline.auth.dev import DevSigner
from orderline.domain.access import Role

from . import loadgen
from .data import LIFECYCLE, seed
from .services import HOST, Server, database, emulator

PY_SPY = Path(sys.executable).with_name("py-spy")
console = Console(stderr=True)

# (component, substrings of a frame; `stack`: matched anywhere in the stack, else at the leaf).
# Background work of `serve` first (it shares the process), then what the request itself does.
COMPONENTS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("write-through (API → DynamoDB)", ("readmodel/write_through.py",), True),
    ("relay + projector (background)", ("workers/relay.py", "readmodel/projector.py"), True),
    ("counter aggregator (background)", ("orderline/streams/",), True),
    ("live tracking (background)", ("orderline/live/",), True),
    ("idempotency", ("idempotency",), True),
    ("auth: JWT verification", ("orderline/auth/", "/jwt/", "cryptography"), False),
    ("metrics", ("prometheus_client", "orderline/metrics.py"), False),
    ("SQLAlchemy (Core, unit of work)", ("sqlalchemy/",), False),
    ("asyncpg driver", ("asyncpg/",), False),
    ("pydantic validation", ("pydantic",), False),
    ("JSON encoding", ("orjson", "json/", "responses.py", "exact_json.py"), False),
    ("FastAPI / Starlette routing", ("fastapi/", "starlette/"), False),
    ("HTTP server (uvicorn)", ("uvicorn/", "httptools", "h11/"), False),
    ("DynamoDB client (botocore)", ("botocore/", "aiohttp/"), False),
    ("domain", ("orderline/domain/",), False),
    ("Orderline (other)", ("orderline/",), False),
    ("event loop / asyncio", ("asyncio/", "uvloop"), False),
)


BACKGROUND = frozenset(name for name, *_ in COMPONENTS[:4])  # not the request's own


def component(stack: list[str]) -> str:
    """The component a collapsed py-spy stack (root first) is charged to."""
    for name, patterns, anywhere in COMPONENTS:
        frames = stack if anywhere else stack[-1:]
        if any(p in frame for frame in frames for p in patterns):
            return name
    for frame in reversed(stack):  # a leaf in C or the stdlib: the nearest known frame
        for name, patterns, anywhere in COMPONENTS:
            if not anywhere and any(p in frame for p in patterns):
                return name
    return "other"


def breakdown(raw: Path) -> Counter[str]:
    """Samples per component, from py-spy's `--format raw` (collapsed stacks) output."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit() and "(idle)" not in stack:
            counts[component(stack.split(";"))] += int(count)
    return counts


def changes(ids: list[str]) -> list[bytes]:
    """Allowed status changes, every order one step per round; `Host` and body prebuilt."""
    return [
        loadgen.post(f"/api/orders/{i}/status", HOST, json.dumps({"status": s}).encode())
        for s in LIFECYCLE
        for i in ids
    ]


class Requests:
    """Hands out each change once, across the warm-up and the measured runs."""

    def __init__(self, requests: list[bytes], headers: bytes) -> None:
        self.requests, self.headers, self.next = requests, headers, 0

    def run(self, port: int, count: int, connections: int) -> loadgen.Result:
        start = self.next
        self.next += count

        def make(n: int) -> bytes:
            request = self.requests[(start + n) % len(self.requests)]
            return request.replace(b"\r\n", b"\r\n" + self.headers, 1) if self.headers else request

        return loadgen.run(
            loadgen.counted_loop(HOST, port, make, count=count, connections=connections)
        )


def profiled(server: Server, requests: Requests, args: argparse.Namespace, raw: Path) -> None:
    assert server.process is not None
    command = [str(PY_SPY), "record", "--pid", str(server.process.pid), "--rate", "250"]
    command += ["--format", "raw", "-o", str(raw), "--nonblocking"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    requests.run(server.port, args.changes, args.connections)
    spy.send_signal(signal.SIGINT)
    _, error = spy.communicate(timeout=60)
    if not raw.exists():
        raise SystemExit(f"py-spy recorded nothing: {error.decode().strip()[-500:]}")


def report(counts: Counter[str], cpu_ms: float, args: argparse.Namespace) -> None:
    total = sum(counts.values()) or 1
    table = Table(
        title=f"server CPU by component ({total} samples, write-through "
        f"{args.write_through}, auth {'on' if args.auth else 'off'})"
    )
    table.add_column("component")
    table.add_column("% of samples", justify="right")
    table.add_column("ms per change", justify="right")
    for name, count in counts.most_common():
        table.add_row(name, f"{count / total * 100:.1f}", f"{count / total * cpu_ms:.3f}")
    console.print(table)
    own = sum(count for name, count in counts.items() if name not in BACKGROUND) / total
    console.print(
        f"the request's own work (without write-through and background): {own * 100:.1f} % "
        f"of samples, {own * cpu_ms:.3f} ms per change"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_status",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m bench.profile_status --changes 4000 --write-through off",
    )
    parser.add_argument("--changes", type=int, default=4000, help="measured changes per phase")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--write-through", choices=("on", "off"), default="on")
    parser.add_argument("--auth", action="store_true", help="a bearer JWT on every request")
    parser.add_argument("--profiler", choices=("py-spy", "none"), default="py-spy")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    orders = (args.changes * 3 + 500) // len(LIFECYCLE) + 1
    with ExitStack() as stack:
        url = stack.enter_context(database())
        endpoint = stack.enter_context(emulator())
        data_dir = stack.enter_context(tempfile.TemporaryDirectory())
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLINE_")} | {
            "ORDERLINE_DATABASE_URL": url,
            "ORDERLINE_DYNAMODB_ENDPOINT": endpoint,
            "ORDERLINE_LOG_LEVEL": "warning",
            "ORDERLINE_DATA_DIR": data_dir,
        }
        settings = {"table_prefix": f"prof{uuid.uuid4().hex[:6]}-"}
        settings |= {"write_through": str(args.write_through == "on").lower()}
        headers = b""
        if args.auth:
            settings |= {"rate_limit_per_second": 1_000_000, "rate_limit_burst": 1_000_000}
            token = DevSigner(Path(data_dir), issuer="orderline", audience="orderline-api").issue(
                "bench", Role.STAFF, scopes=("orders:admin",), ttl_seconds=3600
            )
            headers = f"Authorization: Bearer {token}\r\n".encode()
        else:
            env["ORDERLINE_AUTH"] = "false"
        with Server(env, **settings):
            pass  # migrations and tables
        ids = asyncio.run(seed(url, orders, f"p{uuid.uuid4().hex[:4]}-"))
        requests = Requests(changes(ids), headers)
        with Server(env, **settings) as server:
            requests.run(server.port, 500, args.connections)  # warm-up
            before = server.cpu_seconds()
            run = requests.run(server.port, args.changes, args.connections)
            cpu_ms = (server.cpu_seconds() - before) / args.changes * 1000
            counts: Counter[str] = Counter()
            if args.profiler == "py-spy":
                raw = args.raw or Path(data_dir) / "stacks.txt"
                profiled(server, requests, args, raw)
                counts = breakdown(raw)
                report(counts, cpu_ms, args)
    figures = {
        "changes": args.changes,
        "connections": args.connections,
        "write_through": args.write_through,
        "auth": args.auth,
        "server_cpu_ms_per_change": round(cpu_ms, 3),
        "rate": round(run.rate, 1),
        "errors": run.errors,
        "statuses": run.statuses,
        "request_own_ms_per_change": round(
            sum(c for n, c in counts.items() if n not in BACKGROUND)
            / (sum(counts.values()) or 1)
            * cpu_ms,
            3,
        ),
        "components_percent": {
            name: round(count / (sum(counts.values()) or 1) * 100, 1)
            for name, count in counts.most_common()
        },
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print(
        f"profile_status: {args.changes} changes on {args.connections} connections, write-through "
        f"{args.write_through}: server CPU {cpu_ms:.3f} ms per change, {run.rate:.0f} changes/s, "
        f"{run.errors} errors"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
