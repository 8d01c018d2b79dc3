"""A small circuit breaker per DynamoDB region: closed, open, half-open.

Closed: every read goes to the region; `threshold` failures (errors or timeouts) within `window`
seconds open it. Open: reads skip the region for `open_seconds`, then it is half-open: one read
at a time probes it; a success closes it, a failure opens it again. Plain logic, no I/O; the
clock is injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half-open"]
STATE_VALUE: dict[State, int] = {"closed": 0, "half-open": 1, "open": 2}


@dataclass(frozen=True)
class CircuitPolicy:
    threshold: int = 3
    window_seconds: float = 10.0
    open_seconds: float = 2.0


class Circuit:
    def __init__(self, policy: CircuitPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False
        self.forced_open = False  # `dr drill`: the region is out for this process

    @property
    def state(self) -> State:
        if self.forced_open:
            return "open"
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self._policy.open_seconds:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Whether a read may go to the region now (in half-open: the one probe in flight)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self.forced_open:
            return
        self._failures.clear()
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        now = self._clock()
        if self._opened_at is not None:  # a failed probe (or a straggler): open again
            self._opened_at, self._probing = now, False
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._policy.window_seconds:
            self._failures.popleft()
        if len(self._failures) >= self._policy.threshold:
            self._opened_at = now
            self._failures.clear()

    def abandoned(self) -> None:
        """The read was cancelled before it answered: free the probe slot."""
        self._probing = False

    def force_open(self, value: bool = True) -> None:
        """Take the region out (True) or give it back (False: half-open, probed at once)."""
        self.forced_open = value
        if not value:
            self._opened_at = self._clock() - self._policy.open_seconds
            self._probing = False
