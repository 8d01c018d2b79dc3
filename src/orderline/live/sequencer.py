"""Outbox ids in commit order: deliver changes in id order, wait briefly for gaps.

Ids come from a sequence when a row is inserted, so transactions can commit out of id order,
and a rolled-back one leaves a gap forever. The sequencer releases changes in id order (so a
client's `Last-Event-ID` is a position: everything at or below it was sent), holds a change
behind a missing id for at most `grace` seconds, then skips the id but keeps asking for it for
`late_window` seconds (a late commit is then delivered out of order rather than lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .changes import Change

MAX_SKIPPED = 10_000  # ids remembered as skipped (a huge gap is a rolled-back burst)


class Sequencer:
    def __init__(
        self,
        position: int,
        deliver: Callable[[Change], None],
        *,
        grace: float,
        late_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.position = position  # every id <= position was delivered or skipped
        self._deliver = deliver
        self._grace = grace
        self._late_window = late_window
        self._clock = clock
        self._held: dict[int, Change] = {}
        self._gap_since: float | None = None
        self._skipped: dict[int, float] = {}

    @property
    def skipped(self) -> list[int]:
        """Ids skipped recently: still asked for, in case their transaction commits late."""
        return list(self._skipped)

    def absorb(self, changes: list[Change]) -> None:
        for change in changes:
            if self._skipped.pop(change.id, None) is not None:
                self._deliver(change)  # a late commit: out of order, but not lost
            elif change.id > self.position:
                self._held[change.id] = change
        self._release()

    def due_in(self) -> float | None:
        """Seconds until a held gap may be skipped (None: no gap)."""
        if self._gap_since is None:
            return None
        return max(0.0, self._gap_since + self._grace - self._clock())

    def _release(self) -> None:
        now = self._clock()
        while self._held:
            following = self.position + 1
            if following in self._held:
                self._deliver(self._held.pop(following))
                self.position = following
                self._gap_since = None
                continue
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < self._grace:
                break
            lowest = min(self._held)
            for missing in range(max(following, lowest - MAX_SKIPPED), lowest):
                self._skipped[missing] = now
            self.position = lowest - 1
            self._gap_since = None
        self._forget(now)

    def _forget(self, now: float) -> None:
        expired = [key for key, when in self._skipped.items() if now - when > self._late_window]
        for key in expired:
            del self._skipped[key]
        while len(self._skipped) > MAX_SKIPPED:
            del self._skipped[min(self._skipped)]
