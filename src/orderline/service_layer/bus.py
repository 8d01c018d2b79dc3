"""The event bus port: what the relay publishes to (in-process projector or Kafka)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class BusUnavailable(Exception):
    """The bus cannot take events right now (an outage, not a bad event): retry later."""


class EventBus(Protocol):
    async def publish(self, envelopes: Sequence[dict[str, Any]]) -> dict[int, str]:
        """Deliver the envelopes durably or raise BusUnavailable.

        Returns the positions of events the bus refuses for good, with the reason; the relay
        retries those with backoff and parks them after N attempts.
        """
        ...
