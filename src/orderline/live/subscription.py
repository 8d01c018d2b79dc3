"""One subscriber: a bounded queue of changes, and why (if) it ended."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from .changes import Change, Topic

# slow: its queue filled; shutdown; expired: its token did; lifetime: it reached the cap
Ending = Literal["slow", "shutdown", "expired", "lifetime", "disconnected"]
TOLD_TO_RESUME: frozenset[Ending] = frozenset({"slow", "shutdown", "expired", "lifetime"})
HEARTBEAT = None  # what `next` returns when the ticker asks for a heartbeat


class Subscription:
    """Filled by the hub, drained by one stream. A full queue ends it (`slow`): a subscriber
    that cannot keep up is cut off and told to resume, never buffered without limit.

    A handful of slots and no task or timer of its own: the hub's one ticker asks for its
    heartbeats (`beat`) and ends it at its deadline (`ending_at`). While it waits, its stream's
    own task reads the client (`park`: a disconnect ends it) and is interrupted when there is
    something to write, so a stream needs no second task to notice a client that left."""

    __slots__ = (
        "_beat",
        "_blocked",
        "_interrupting",
        "_parked",
        "_queue",
        "_waiter",
        "active_at",
        "capacity",
        "deadline",
        "deadline_reason",
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
        self._queue: list[Change] = []  # short (at most `capacity`): 56 bytes, not a deque's 624
        self._waiter: asyncio.Future[None] | None = None
        self._blocked: asyncio.Task[object] | None = None  # the stream, in a write or parked
        self._parked = False  # blocked reading its client, waiting for something to write
        self._interrupting = False  # the CancelledError `_blocked` gets next is ours
        self._beat = False
        self.active_at = time.monotonic()  # the stream's last write (heartbeats count from it)
        self.deadline = math.inf  # monotonic: when the ticker ends it, and why
        self.deadline_reason: Ending = "lifetime"

    def ending_at(self, seconds: float, reason: Ending) -> None:
        """End it (`reason`) `seconds` from now; the hub's ticker keeps the time."""
        self.deadline = time.monotonic() + seconds
        self.deadline_reason = reason

    def beat(self) -> None:
        """The ticker's request: write a heartbeat now (`next` returns HEARTBEAT)."""
        self._beat = True
        self._wake()

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
        self._wake(writing_too=reason != "disconnected")

    async def next(
        self, idle: float | None = None, park: Callable[[], Awaitable[object]] | None = None
    ) -> Change | None:
        """The next change; None when the ticker asked for a heartbeat (or after `idle`
        seconds, for a caller without a ticker), or when the subscription ended and nothing
        is left (check `ended`). With `park`, waiting runs it (it returns when the client
        has gone: the subscription ends `disconnected`)."""
        if not self._queue and self.ended is None and not self._beat:
            if park is not None:
                await self._park(park)
            else:
                await self._wait(idle)
        if self.ended in TOLD_TO_RESUME:
            return None  # what is still queued goes to the resume, not the client
        self._beat = False  # a change written is as good as a heartbeat
        return self._queue.pop(0) if self._queue else HEARTBEAT

    async def _wait(self, idle: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if idle is None else loop.call_later(idle, _settle, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    async def _park(self, park: Callable[[], Awaitable[object]]) -> None:
        self._blocked, self._parked = asyncio.current_task(), True
        try:
            await park()
        except asyncio.CancelledError:
            if not self.interrupted():
                raise
            return
        finally:
            self._blocked, self._parked = None, False
        self.end("disconnected")

    def writing(self, task: asyncio.Task[object] | None) -> None:
        """Mark the stream as blocked in a write to its client (`end` interrupts it)."""
        self._blocked = task

    def interrupted(self) -> bool:
        """Whether the CancelledError just raised came from the subscription (then consumed)."""
        if not self._interrupting:
            return False
        self._interrupting = False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    def _wake(self, writing_too: bool = False) -> None:
        if self._waiter is not None:
            _settle(self._waiter)
            return
        blocked = self._blocked
        if blocked is not None and (self._parked or writing_too) and not self._interrupting:
            self._interrupting = True
            blocked.cancel()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
