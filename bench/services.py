"""What every benchmark starts: a scratch database, the emulators, `orderline serve` pinned
to the server CPU, and the CPU placement they share."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from orderline import dynamodb_local

from .process_stats import cpu_seconds

ROOT = Path(__file__).parent
RESULTS = ROOT / "results"
TOOLS = ROOT.parent / ".tools"
ORDERLINE = Path(sys.executable).with_name("orderline")
HOST = "127.0.0.1"
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = {CPUS[0]}
CLIENT_CPUS = set(CPUS[1:]) or {CPUS[0]}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
