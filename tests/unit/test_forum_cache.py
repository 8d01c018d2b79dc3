"""The thread page cache: entries live `ttl` seconds, writes invalidate, a read that started
before a write stores nothing, concurrent misses share one load."""

from __future__ import annotations

import asyncio

import pytest

from orderline.forum.cache import ThreadCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """What DynamoDB holds, counting reads; `gate` holds reads until set."""

    def __init__(self) -> None:
        self.value, self.reads = "v1", 0
        self.gate, self.began = asyncio.Event(), asyncio.Event()
        self.gate.set()

    async def load(self) -> str:
        self.reads += 1
        self.began.set()
        seen = self.value
        await self.gate.wait()
        return seen


async def test_an_entry_is_served_for_ttl_seconds_then_read_again() -> None:
    clock, source = Clock(), Source()
    cache = ThreadCache(ttl=1.0, clock=clock)
    assert await cache.read("t", "thread", source.load) == "v1"
    source.value = "v2"  # written through another process
    clock.now += 0.99
    assert await cache.read("t", "thread", source.load) == "v1"
    clock.now += 0.01
    assert await cache.read("t", "thread", source.load) == "v2"
    assert source.reads == 2


async def test_a_write_here_is_seen_at_once() -> None:
    source = Source()
    cache = ThreadCache(ttl=60.0, clock=Clock())
    await cache.read("t", "thread", source.load)
    await cache.read("u", "thread", source.load)
    source.value = "v2"
    cache.invalidate("t")
    assert await cache.read("t", "thread", source.load) == "v2"
    assert await cache.read("u", "thread", source.load) == "v1"  # other threads kept


async def test_a_read_that_began_before_a_write_stores_nothing() -> None:
    source = Source()
    cache = ThreadCache(ttl=60.0, clock=Clock())
    source.gate.clear()
    stale = asyncio.create_task(cache.read("t", "thread", source.load))
    await source.began.wait()
    source.value = "v2"
    cache.invalidate("t")
    source.gate.set()
    assert await stale == "v1"  # its own caller gets what it read
    assert await cache.read("t", "thread", source.load) == "v2"


async def test_concurrent_misses_share_one_load_and_a_gone_reader_leaves_it() -> None:
    source = Source()
    cache = ThreadCache(ttl=60.0, clock=Clock())
    source.gate.clear()
    first = asyncio.create_task(cache.read("t", "thread", source.load))
    others = [asyncio.create_task(cache.read("t", "thread", source.load)) for _ in range(5)]
    await source.began.wait()
    first.cancel()
    source.gate.set()
    assert await asyncio.gather(*others) == ["v1"] * 5
    assert source.reads == 1


async def test_failures_are_not_cached_and_ttl_zero_caches_nothing() -> None:
    cache = ThreadCache(ttl=60.0, clock=Clock())

    async def broken() -> str:
        raise RuntimeError("throttled")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="throttled"):
            await cache.read("t", "thread", broken)
    source = Source()
    assert await cache.read("t", "thread", source.load) == "v1"
    off = ThreadCache(ttl=0)
    await off.read("t", "thread", source.load)
    await off.read("t", "thread", source.load)
    assert source.reads == 3


async def test_the_least_recently_used_entry_goes_first() -> None:
    source = Source()
    cache = ThreadCache(ttl=60.0, entries=2, clock=Clock())
    for thread in ("a", "b", "a", "c"):
        await cache.read(thread, "thread", source.load)
    await cache.read("a", "thread", source.load)
    await cache.read("b", "thread", source.load)
    assert source.reads == 4  # a, b, c, then b again (evicted by c)
