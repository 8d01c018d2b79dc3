"""The read cache: bounded, expiring, newest version wins, one load per key at a time."""

from __future__ import annotations

import asyncio

import pytest

from orderline.readmodel.cache import MISSING, ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache(
    size: int = 3, ttl: float = 5, negative: float = 1
) -> tuple[ReadCache[dict[str, int]], Clock]:
    clock = Clock()
    return ReadCache(size, ttl, negative, clock=clock), clock


def test_entries_expire_after_their_ttl_and_unknown_keys_sooner() -> None:
    c, clock = cache()
    c.put("a", {"v": 1}, 1)
    c.put("gone", None)
    clock.now = 0.9
    assert c.get("a") == {"v": 1} and c.get("gone") is None
    clock.now = 1.0
    assert c.get("gone") is MISSING
    clock.now = 5.0
    assert c.get("a") is MISSING


def test_least_recently_used_entry_leaves_first() -> None:
    c, _ = cache(size=2)
    c.put("a", {"v": 1}, 1)
    c.put("b", {"v": 1}, 1)
    c.get("a")
    c.put("c", {"v": 1}, 1)
    assert c.get("b") is MISSING and c.get("a") == {"v": 1} and len(c) == 2


def test_an_older_version_never_replaces_a_newer_one() -> None:
    c, _ = cache()
    c.put("a", {"v": 3}, 3)
    c.put("a", {"v": 2}, 2)
    assert c.get("a") == {"v": 3}
    c.put("a", None, 4)  # deleted at version 4
    assert c.get("a") is None


def test_size_zero_disables_the_cache() -> None:
    c, _ = cache(size=0)
    c.put("a", {"v": 1}, 1)
    assert not c.enabled and c.get("a") is MISSING


async def test_concurrent_misses_share_one_load_and_its_error() -> None:
    c, _ = cache()
    calls = 0

    async def load() -> tuple[dict[str, int] | None, str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return {"v": 1}, "postgres"

    results = await asyncio.gather(*(c.single_flight("a", load) for _ in range(5)))
    assert calls == 1 and all(result == ({"v": 1}, "postgres") for result in results)

    async def fail() -> tuple[dict[str, int] | None, str]:
        await asyncio.sleep(0.01)
        raise ConnectionError("down")

    outcomes = await asyncio.gather(
        *(c.single_flight("b", fail) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert await c.single_flight("b", load) == ({"v": 1}, "postgres")  # not stuck after an error


@pytest.mark.parametrize("ttl", [0.0])
def test_zero_ttl_disables_the_cache(ttl: float) -> None:
    c, _ = cache(ttl=ttl)
    c.put("a", {"v": 1}, 1)
    assert c.get("a") is MISSING
