"""The relay: claims unpublished outbox rows, hands them to the bus, marks them published.

Rows are claimed with FOR UPDATE SKIP LOCKED inside one transaction, so several relays share the
work and a relay that dies releases its rows. No high-water mark is kept: a transaction that
commits late is picked up by the next claim. A bus outage backs the whole relay off without
counting attempts; an event the bus rejects is retried with backoff and parked after N attempts,
while the other orders flow on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderline import metrics
from orderline.adapters.postgres import outbox
from orderline.adapters.postgres.outbox import OutboxRow
from orderline.adapters.postgres.unit_of_work import DEFAULT_CHANNEL
from orderline.domain.events import Envelope
from orderline.service_layer.event_bus import BusUnavailable

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Envelope]], Awaitable[dict[int, str]]]
STATS_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class RelayPolicy:
    batch_size: int = 100
    poll_seconds: float = 1.0
    max_attempts: int = 8
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 60.0

    def retry_in(self, attempts: int) -> timedelta | None:
        """Delay before the next attempt of a row that failed `attempts` times; None: park it."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_max_seconds)
        return timedelta(seconds=delay)

    def outage_pause(self, failures: int) -> float:
        delay: float = self.backoff_seconds * 2 ** (failures - 1)
        return min(delay, 5.0, self.backoff_max_seconds)


class Relay:
    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        *,
        policy: RelayPolicy | None = None,
        channel: str = DEFAULT_CHANNEL,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._policy = policy or RelayPolicy()
        self._channel = channel
        self._wake = asyncio.Event()
        self._stats_due = 0.0
        self.waiting = asyncio.Event()
        """Set while `run` has nothing due and waits for a notification or its poll."""

    async def run_once(self) -> int:
        """Claim, publish and settle one batch; return how many rows it held."""
        async with self._engine.begin() as conn:
            rows = await outbox.claim(conn, self._policy.batch_size)
            if rows:
                await self._settle(conn, rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is due (tests, replay-at-start); return rows handled."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: on every NOTIFY, and every poll interval regardless."""
        listener = await self._listen()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    handled = await self.run_once()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    metrics.OUTBOX_FAILURES.labels("batch").inc()
                    log.warning("relay: publishing failed (%s); retrying", _describe(exc))
                    await self._refresh_stats()
                    await _wait_any(stop, None, self._policy.outage_pause(failures))
                    continue
                await self._refresh_stats()
                if handled < self._policy.batch_size:
                    self.waiting.set()
                    await _wait_any(stop, self._wake, self._policy.poll_seconds)
                    self.waiting.clear()
                    self._wake.clear()
        finally:
            if listener is not None:
                await listener.close()

    async def _settle(self, conn: AsyncConnection, rows: list[OutboxRow]) -> None:
        rejected = await self._publish_isolating_failures(rows)
        ok = [row.id for position, row in enumerate(rows) if position not in rejected]
        await outbox.mark_published(conn, ok)
        for position, error in rejected.items():
            row = rows[position]
            retry_in = self._policy.retry_in(row.attempts + 1)
            await outbox.mark_failed(conn, row, error, retry_in=retry_in)
            metrics.OUTBOX_FAILURES.labels("row").inc()
            if retry_in is None:
                log.error(
                    "relay: parked outbox row %d after %d attempts: %s",
                    row.id,
                    row.attempts + 1,
                    error,
                )
        metrics.OUTBOX_PUBLISHED.inc(len(ok))

    async def _publish_isolating_failures(self, rows: list[OutboxRow]) -> dict[int, str]:
        """Rejected positions. An outage raises; any other error is pinned to its own row."""
        try:
            return await self._publish([row.envelope for row in rows])
        except BusUnavailable:
            raise
        except Exception as exc:
            if len(rows) == 1:
                return {0: _describe(exc)}
        rejected: dict[int, str] = {}
        for position, row in enumerate(rows):
            alone = await self._publish_isolating_failures([row])
            if alone:
                rejected[position] = alone[0]
        return rejected

    async def _refresh_stats(self) -> None:
        if time.monotonic() < self._stats_due:
            return
        self._stats_due = time.monotonic() + STATS_EVERY_SECONDS
        try:
            await refresh_outbox_gauges(self._engine)
        except Exception as exc:
            log.debug("relay: outbox gauges not refreshed: %s", exc)

    async def _listen(self) -> _Listener | None:
        """A connection LISTENing on the channel; None (poll only) if that fails."""
        listener = _Listener(self._channel, self._wake.set)
        try:
            await listener.start(self._engine)
        except Exception as exc:
            log.warning(
                "relay: LISTEN failed (%s); polling every %ss", exc, self._policy.poll_seconds
            )
            await listener.close()
            return None
        return listener


class _Listener:
    def __init__(self, channel: str, wake: Callable[[], None]) -> None:
        self._channel = channel
        self._wake = wake
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    def _on_notify(self, *_: Any) -> None:
        self._wake()

    async def start(self, engine: AsyncEngine) -> None:
        self._conn = await engine.connect()
        raw = await self._conn.get_raw_connection()
        self._driver = raw.driver_connection
        await self._driver.add_listener(self._channel, self._on_notify)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._driver is not None:
                await self._driver.remove_listener(self._channel, self._on_notify)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()


async def refresh_outbox_gauges(engine: AsyncEngine) -> outbox.OutboxStats:
    stats = await outbox.stats(engine)
    metrics.OUTBOX_BACKLOG.set(stats.backlog)
    metrics.OUTBOX_PARKED.set(stats.parked)
    oldest = stats.oldest_unpublished
    metrics.OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
    return stats


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
