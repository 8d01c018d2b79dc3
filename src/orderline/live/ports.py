"""What live tracking needs from the write model: the outbox as a feed of committed changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .changes import Change, Topic


class ChangeFeed(Protocol):
    async def head(self) -> int:
        """The highest outbox id committed so far (0 when empty)."""

    async def since(self, after: int, also: Sequence[int], limit: int) -> list[Change]:
        """Committed rows with id > `after`, or id in `also`, in id order, at most `limit`."""

    async def replay(self, after: int, upto: int, topic: Topic, limit: int) -> list[Change]:
        """The rows `after` < id <= `upto` the topic admits (filtered in the query), in order."""

    def listen(
        self, wake: Callable[[], None], lost: Callable[[], None]
    ) -> AbstractAsyncContextManager[int]:
        """LISTEN on the commit channel: `wake` on each notification, `lost` when the
        connection drops; yields the listening backend's pid."""
