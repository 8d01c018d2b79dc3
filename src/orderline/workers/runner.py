"""Workers beside the API: started with the app, stopped (batch finished) before it exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .relay import Relay

log = logging.getLogger(__name__)
STOP_TIMEOUT_SECONDS = 10.0


@asynccontextmanager
async def relay_in_background(relay: Relay | None) -> AsyncIterator[None]:
    """Run `relay` until the block exits; the batch in flight finishes (or rolls back)."""
    if relay is None:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop), name="orderline-relay")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("relay did not stop within %ss; its batch rolls back", STOP_TIMEOUT_SECONDS)
        except Exception:
            log.exception("relay stopped with an error")
        with contextlib.suppress(asyncio.CancelledError):
            if not task.done():
                task.cancel()
                await task
