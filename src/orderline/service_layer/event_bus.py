"""The event-bus port: what the relay publishes to (the in-process projector or Kafka).

Not the command dispatcher (`dispatcher.py`), which runs commands; this carries events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orderline.domain.events import Envelope


class BusUnavailable(Exception):
    """The bus cannot take events right now (an outage, not a bad event): retry later."""


class EventBus(Protocol):
    async def publish(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Deliver the envelopes durably or raise BusUnavailable.

        Returns the positions of events the bus refuses for good, with the reason; the relay
        retries those with backoff and parks them after N attempts.
        """
        ...
