"""Running worker loops (relay, Kafka projector) until asked to stop; each finishes its batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)
STOP_TIMEOUT_SECONDS = 10.0
Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@asynccontextmanager
async def in_background(loops: Sequence[Loop]) -> AsyncIterator[asyncio.Event]:
    """Run each loop until the block exits (or the returned event is set)."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(loop(stop), name=f"orderline-worker-{n}")
        for n, loop in enumerate(loops)
    ]
    try:
        yield stop
    finally:
        stop.set()
        await _finish(tasks)


async def run_until_stopped(loops: Sequence[Loop], stop: asyncio.Event) -> None:
    """Run the loops in the foreground; a loop that crashes stops the others."""
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        stop.set()
        await _finish(tasks)


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)
    for task in pending:
        log.warning("worker did not stop within %ss; its batch rolls back", STOP_TIMEOUT_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("worker stopped with an error", exc_info=task.exception())
