"""What live tracking needs from the write model: the outbox as a feed of committed changes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from .changes import Change, Topic


@dataclass(frozen=True)
class Released:
    """What `since` hands out: rows in position order, and whether committed rows after them
    wait for an older transaction still open (no NOTIFY comes when that one rolls back)."""

    changes: list[Change]
    waiting: bool
    held: tuple[int, ...] = ()  # the positions of committed rows held back (the `held` stage)


class ChangeFeed(Protocol):
    """Positions are `changes.position_of(xid, id)`. A row is released once every transaction
    older than its own has ended, so nothing can ever be released behind a released row."""

    async def head(self) -> int:
        """The position of the last row released so far (0 when none)."""

    async def since(self, after: int, limit: int) -> Released:
        """Released rows with position > `after`, in position order, at most `limit`."""

    async def replay(self, after: int, upto: int, topic: Topic, limit: int) -> list[Change]:
        """Rows with `after` < position <= `upto` (released) the topic admits, in order."""

    def listen(
        self, wake: Callable[[], None], lost: Callable[[], None]
    ) -> AbstractAsyncContextManager[int]:
        """LISTEN on the commit channel: `wake` on each notification, `lost` when the
        connection drops; yields the listening backend's pid."""
