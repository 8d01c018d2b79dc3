"""One clock for every stream of a process: heartbeats and deadlines on a coarse timing wheel.

A stream has no timer of its own. Each subscription sits in one slot of the wheel (a slot is
`tick` seconds wide), at the first moment something may be due for it: its next heartbeat
(`heartbeat` seconds after its last write) or its deadline. Each tick takes the slots that came
due: an ended subscription simply drops out; one past its deadline is ended; one idle for a
heartbeat interval is asked for a heartbeat; each is then put back at its next due moment. A
tick costs one look per subscription due, so 10,000 idle streams at a 15 s heartbeat cost about
670 looks a second, spread evenly (each stream's heartbeats count from its own last write).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict

from .subscription import Subscription


class Ticker:
    def __init__(self, heartbeat: float, tick: float) -> None:
        self.heartbeat = heartbeat
        self.tick = tick
        self._wheel: dict[int, list[Subscription]] = defaultdict(list)
        self._done = math.floor(time.monotonic() / tick)  # slots up to this one were handled

    @property
    def watched(self) -> int:
        return sum(len(slot) for slot in self._wheel.values())

    def watch(self, sub: Subscription) -> None:
        """Keep `sub`'s heartbeats and deadline from now on (until it ends)."""
        self._schedule(sub)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop`."""
        while not stop.is_set():
            self.advance(time.monotonic())
            await asyncio.sleep(self.tick)

    def advance(self, now: float) -> None:
        """Handle every slot due by `now`."""
        upto = math.floor(now / self.tick)
        if upto - self._done > len(self._wheel):  # a long pause: visit only occupied slots
            due = sorted(slot for slot in self._wheel if slot <= upto)
        else:
            due = list(range(self._done + 1, upto + 1))
        self._done = max(self._done, upto)
        for slot in due:
            for sub in self._wheel.pop(slot, ()):
                self._check(sub, now)

    def _check(self, sub: Subscription, now: float) -> None:
        if sub.ended is not None:
            return  # it drops out of the wheel
        if now >= sub.deadline:
            sub.end(sub.deadline_reason)
            return
        if now - sub.active_at >= self.heartbeat:
            sub.active_at = now  # asked: the next one counts from here
            sub.beat()
        self._schedule(sub)

    def _schedule(self, sub: Subscription) -> None:
        due = min(sub.active_at + self.heartbeat, sub.deadline)
        slot = max(math.ceil(due / self.tick), self._done + 1)
        self._wheel[slot].append(sub)
