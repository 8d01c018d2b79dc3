"""The in-process event bus: the relay hands each batch straight to the projector."""

from __future__ import annotations

from collections.abc import Sequence

from orderline.adapters.dynamodb.errors import is_transient
from orderline.domain.events import Envelope
from orderline.readmodel.projector import Observer, ProjectsEvents
from orderline.service_layer.event_bus import BusUnavailable


class InProcessEventBus:
    """Publishing is projecting: DynamoDB being down is the bus being unavailable."""

    def __init__(self, projector: ProjectsEvents, observers: Sequence[Observer] = ()) -> None:
        self._projector = projector
        self._observers = list(observers)

    async def publish(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Project the batch; return the positions of events that can never be applied."""
        try:
            result = await self._projector.project(envelopes)
        except Exception as exc:
            if is_transient(exc):
                raise BusUnavailable(str(exc)) from exc
            raise
        for observe in self._observers:
            observe(envelopes)
        return result.rejected
