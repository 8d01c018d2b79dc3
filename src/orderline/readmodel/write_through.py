"""Write-through: committed events refresh the process's cache at once and, when this process
projects them anyway, are projected right after the response, without the wait.

The request only hands its envelopes over (and refreshes the process's cache: read-your-writes,
with `minVersion` falling through to PostgreSQL where DynamoDB is behind); one background task
projects whatever has piled up, in batches. It is best effort: the outbox row is committed and
the relay delivers anything this misses (a full queue, a failed call, a stop).

`projects=False` (bootstrap decides: a relay or projector in another process writes DynamoDB)
keeps only the cache refresh, so each event is written to DynamoDB once, by its projector.
With `projects=True` (`serve` with its workers, no Kafka) the in-process relay then skips
what was written through (`Projector._applied`): there too each event reaches DynamoDB once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from orderline import metrics
from orderline.domain.events import Envelope, Event

from .projector import Observer, ProjectsEvents

log = logging.getLogger(__name__)


class WriteThrough:
    def __init__(
        self,
        projector: ProjectsEvents,
        observers: Sequence[Observer] = (),
        *,
        capacity: int = 10_000,
        batch_size: int = 100,
        projects: bool = True,
    ) -> None:
        self.projects = projects
        self._projector = projector
        self._observers = observers
        self._capacity = capacity
        self._batch_size = batch_size
        self._pending: deque[Envelope] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def offer(self, events: list[Event]) -> None:
        """The command dispatcher's after-commit hook: queue the events, never wait, never fail."""
        envelopes = [event.envelope() for event in events]
        for observe in self._observers:
            observe(envelopes)
        if not self.projects:
            return
        if len(self._pending) + len(envelopes) > self._capacity:
            metrics.WRITE_THROUGH_SKIPPED.inc(len(envelopes))
            return
        self._pending.extend(envelopes)
        metrics.WRITE_THROUGH_BACKLOG.inc(len(envelopes))
        self._idle.clear()
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Project queued events until `stop` is set and the queue is empty."""
        waker = asyncio.create_task(self._wake_on(stop))
        try:
            while self._pending or not stop.is_set():
                if not self._pending:
                    self._idle.set()
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                size = min(self._batch_size, len(self._pending))
                await self._project([self._pending.popleft() for _ in range(size)])
        finally:
            waker.cancel()
            self._idle.set()

    async def idle(self) -> None:
        """Wait until everything offered so far has been projected (or given up on)."""
        await self._idle.wait()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _project(self, batch: list[Envelope]) -> None:
        try:
            result = await self._projector.project(batch)
        except Exception as exc:
            metrics.WRITE_THROUGH_ERRORS.inc()
            log.debug("write-through of %d events failed, the relay delivers: %s", len(batch), exc)
            return
        finally:
            metrics.WRITE_THROUGH_BACKLOG.dec(len(batch))
        if result.rejected:
            metrics.WRITE_THROUGH_ERRORS.inc()
