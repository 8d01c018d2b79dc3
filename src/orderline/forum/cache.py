"""A short per-process cache of the thread page's reads (the thread, its first page of posts).

Correct across API processes by time: an entry lives `ttl` seconds, so a write made through
another process (or `forum import`) shows here at most `ttl` seconds after it returned. Within
this process a write invalidates its thread's entries before it answers, and a read that started
before the write cannot store what it read (a generation, bumped on every invalidation, that a
fill must still match). Concurrent misses of one key share one load.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Entry:
    expires: float
    value: Any


class ThreadCache:
    """Entries keyed by (thread id, what was read); at most `entries`, least recently used
    first out. `ttl` 0 turns it off (every read goes to DynamoDB)."""

    def __init__(self, ttl: float, entries: int = 1000, clock: Clock = time.monotonic) -> None:
        self.ttl, self.entries, self.clock = ttl, entries, clock
        self._cached: OrderedDict[tuple[str, Hashable], _Entry] = OrderedDict()
        self._loading: dict[tuple[str, Hashable], asyncio.Task[Any]] = {}
        self._generation = 0  # bumped by every invalidation; a fill must still match it

    async def read(self, thread_id: str, what: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of `what` for the thread, else `load()` (stored for `ttl`)."""
        if self.ttl <= 0:
            return await load()
        key = (thread_id, what)
        entry = self._cached.get(key)
        if entry is not None and entry.expires > self.clock():
            self._cached.move_to_end(key)
            return entry.value
        task = self._loading.get(key)
        if task is None:
            task = self._load(key, load)
        return await asyncio.shield(task)  # a reader that goes away leaves the load to others

    def _load(
        self, key: tuple[str, Hashable], load: Callable[[], Awaitable[Any]]
    ) -> asyncio.Task[Any]:
        generation, started = self._generation, self.clock()

        async def fill() -> Any:
            try:
                value = await load()
            finally:
                if self._loading.get(key) is task:
                    del self._loading[key]
            if self._generation == generation:  # no write since the read began
                self._store(key, _Entry(started + self.ttl, value))
            return value

        task = asyncio.ensure_future(fill())
        self._loading[key] = task
        return task

    def _store(self, key: tuple[str, Hashable], entry: _Entry) -> None:
        self._cached[key] = entry
        self._cached.move_to_end(key)
        while len(self._cached) > self.entries:
            self._cached.popitem(last=False)

    def invalidate(self, thread_id: str) -> None:
        """Forget the thread's entries; reads in flight (any thread's) store nothing, and
        later readers of this thread load afresh instead of joining them."""
        self._generation += 1
        for key in [k for k in self._cached if k[0] == thread_id]:
            del self._cached[key]
        for key in [k for k in self._loading if k[0] == thread_id]:
            del self._loading[key]
