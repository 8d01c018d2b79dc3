"""In-process read cache: bounded (LRU), short TTL, single-flight misses, negative entries."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")
MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V | None  # None: known not to exist
    version: int
    expires: float


class ReadCache(Generic[V]):
    """Maps keys to versioned values; a newer version always wins over an older one."""

    def __init__(
        self,
        max_size: int,
        ttl_seconds: float,
        negative_ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[tuple[V | None, Any]]] = {}
        self._max_size = max_size
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._max_size > 0 and self._ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        """The cached value, None for a known-unknown key, MISSING when not cached or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return MISSING  # type: ignore[no-any-return]
        if entry.expires <= self._clock():
            del self._entries[key]
            return MISSING  # type: ignore[no-any-return]
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: Hashable, value: V | None, version: int = 0) -> None:
        """Store unless a newer version is cached; None remembers that the key does not exist."""
        if not self.enabled:
            return
        current = self._entries.get(key)
        if current is not None and current.value is not None and current.version > version:
            return
        ttl = self._ttl if value is not None else self._negative_ttl
        if ttl <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = _Entry(value, version, self._clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    async def single_flight(
        self, key: Hashable, load: Callable[[], Awaitable[tuple[V | None, Any]]]
    ) -> tuple[V | None, Any]:
        """Run `load` once for concurrent misses of one key; the others await its result."""
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[V | None, Any]] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            result = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._loading[key]
