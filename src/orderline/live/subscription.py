"""One subscriber: a bounded queue of changes, and why (if) it ended."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal

from .changes import Change, Topic

# slow: its queue filled; shutdown; expired: its token did; lifetime: it reached the cap
Ending = Literal["slow", "shutdown", "expired", "lifetime", "disconnected"]
TOLD_TO_RESUME: frozenset[Ending] = frozenset({"slow", "shutdown", "expired", "lifetime"})
HEARTBEAT = None  # what `next` returns when nothing came for a heartbeat interval


class Subscription:
    """Filled by the hub, drained by one stream. A full queue ends it (`slow`): a subscriber
    that cannot keep up is cut off and told to resume, never buffered without limit."""

    __slots__ = (
        "_cancelled_write",
        "_queue",
        "_waiter",
        "_writer",
        "capacity",
        "ended",
        "horizon",
        "principal",
        "topic",
    )

    def __init__(self, topic: Topic, principal: str, capacity: int, horizon: int) -> None:
        self.topic = topic
        self.principal = principal
        self.capacity = capacity
        self.horizon = horizon  # the hub's position when it subscribed: replay stops here
        self.ended: Ending | None = None
        self._queue: deque[Change] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[object] | None = None
        self._cancelled_write = False

    def offer(self, change: Change) -> None:
        if self.ended is not None:
            return
        if len(self._queue) >= self.capacity:
            self.end("slow")
            return
        self._queue.append(change)
        self._wake()

    def end(self, reason: Ending) -> None:
        """End the subscription; a stream blocked writing to its client is interrupted."""
        if self.ended is not None:
            return
        self.ended = reason
        self._wake()
        if self._writer is not None and reason != "disconnected":
            self._cancelled_write = True
            self._writer.cancel()

    async def next(self, idle: float) -> Change | None:
        """The next change; None after `idle` seconds without one (time for a heartbeat),
        or when the subscription ended and nothing is left (check `ended`)."""
        if not self._queue and self.ended is None:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(idle, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self.ended in TOLD_TO_RESUME:
            return None  # what is still queued goes to the resume, not the client
        return self._queue.popleft() if self._queue else None

    def writing(self, task: asyncio.Task[object] | None) -> None:
        """Mark the stream as blocked in a write to its client (`end` interrupts it)."""
        self._writer = task

    def interrupted(self) -> bool:
        """Whether the CancelledError a write just raised came from `end` (then consumed)."""
        if not self._cancelled_write:
            return False
        self._cancelled_write = False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
