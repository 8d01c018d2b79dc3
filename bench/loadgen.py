"""An open-loop HTTP/1.1 load generator on raw asyncio streams.

Requests are released at their scheduled times whatever the server does; latency is measured
from the scheduled time, so a request that waits for a free connection counts its waiting (no
coordinated omission). Keep-alive connections, pre-built request bytes, minimal parsing: the
generator's own ceiling is reported by running it against the bare ASGI floor.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

RequestFactory = Callable[[int], bytes]
SWITCH_INTERVAL = 0.0002  # the clock thread gets the GIL within 0.2 ms, not the default 5 ms
GRACE_SECONDS = 5.0  # how long queued requests may still be sent after the schedule ends


def get(path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def post(path: str, host: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a load on uvloop, with the clock thread's waits for the GIL kept short."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    errors: int = 0
    dropped: int = 0  # still queued when the run's grace period ended: far over capacity
    duration: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.duration if self.duration else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index]

    async def send(self, connection: _Connection, request: bytes, *, since: float) -> None:
        """Send one request; record its latency from `since`, its status, or its failure."""
        try:
            status = await connection.request(request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            connection.close()
            self.errors += 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 400:
            self.errors += 1
        self.latencies.append(time.perf_counter() - since)

    def summary(self) -> dict[str, float]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "dropped": self.dropped,
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 3),
            "p95_ms": round(self.percentile(95) * 1000, 3),
            "p99_ms": round(self.percentile(99) * 1000, 3),
            "max_ms": round(max(self.latencies, default=math.nan) * 1000, 3),
        }


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def open_loop(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
) -> Result:
    """Send `rate` requests per second for `seconds`, each at its scheduled time.

    A clock thread releases each request when it is due: `time.sleep` is precise to tens of
    microseconds, where an event loop's timers round to whole milliseconds, which would add up
    to 1 ms of the generator's own lateness to every measured latency.
    """
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    result = Result()
    give_up = time.perf_counter() + seconds + GRACE_SECONDS

    async def worker() -> None:
        connection = _Connection(host, port)
        try:
            while (job := await queue.get()) is not None:
                number, scheduled = job
                if time.perf_counter() > give_up:
                    result.dropped += 1
                    continue
                await result.send(connection, make(number), since=scheduled)
        finally:
            connection.close()

    def clock(start: float) -> None:
        for number in range(total):
            scheduled = start + number / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            loop.call_soon_threadsafe(queue.put_nowait, (number, scheduled))
        for _ in range(connections):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.05
    releasing = asyncio.create_task(asyncio.to_thread(clock, start))
    await asyncio.gather(*workers, releasing)
    result.duration = time.perf_counter() - start
    return result


async def closed_loop(
    host: str, port: int, make: RequestFactory, *, seconds: float, connections: int = 32
) -> Result:
    """Saturation: each connection sends its next request as soon as the last is answered."""
    deadline = time.perf_counter() + seconds
    return await _closed(host, port, make, iter(range(10**9)), connections, deadline)


async def counted_loop(
    host: str, port: int, make: RequestFactory, *, count: int, connections: int = 32
) -> Result:
    """Exactly `count` requests, closed loop on `connections` connections."""
    return await _closed(host, port, make, iter(range(count)), connections)


async def _closed(
    host: str,
    port: int,
    make: RequestFactory,
    numbers: Iterator[int],
    connections: int,
    deadline: float = math.inf,
) -> Result:
    """Each connection sends request `make(next number)` as soon as its last is answered, until
    the numbers run out or `deadline` (perf_counter) passes."""
    result = Result()

    async def worker() -> None:
        connection = _Connection(host, port)
        try:
            while time.perf_counter() < deadline and (number := next(numbers, None)) is not None:
                await result.send(connection, make(number), since=time.perf_counter())
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.duration = time.perf_counter() - started
    return result
