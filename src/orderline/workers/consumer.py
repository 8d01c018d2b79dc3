"""The Kafka projector loop: consume a batch, project it, then commit its offsets.

Offsets are committed only after the projection of every message up to them succeeded, so a
projector killed at any moment redoes at most one batch (idempotently). Partitions of a batch are
projected concurrently; one partition's messages (one order's events among them, in order) go
to the projector together. A DynamoDB outage retries the batch with backoff, uncommitted. An
event the projector rejects is retried a few times, then sent to the dead-letter topic with
the reason, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from orderline import metrics
from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.kafka import KafkaPublisher, KafkaUnavailable, decode
from orderline.readmodel.projector import Observer, ProjectsEvents

log = logging.getLogger(__name__)
OUTAGE_PAUSE_MAX = 5.0


class KafkaProjection:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        projector: ProjectsEvents,
        dead_letters: KafkaPublisher,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 0.1,
        observers: Sequence[Observer] = (),
    ) -> None:
        self._consumer = consumer
        self._projector = projector
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._observers = list(observers)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished and committed first."""
        await self._consumer.start()
        try:
            while not stop.is_set():
                batches = await self._consumer.getmany(timeout_ms=500)
                if batches:
                    if not await self._project(batches, stop):
                        break  # stopping in an outage: leave the batch uncommitted
                    await self._consumer.commit(
                        {tp: records[-1].offset + 1 for tp, records in batches.items()}
                    )
                    metrics.CONSUMED.inc(sum(len(records) for records in batches.values()))
                await self._report_lag()
        finally:
            await self._consumer.stop()

    async def _project(
        self, batches: dict[TopicPartition, list[ConsumerRecord]], stop: asyncio.Event
    ) -> bool:
        """Project every partition's records; False if `stop` came during an outage."""
        outcomes = await asyncio.gather(
            *(self._project_partition(records, stop) for records in batches.values())
        )
        return all(outcomes)

    async def _project_partition(self, records: list[ConsumerRecord], stop: asyncio.Event) -> bool:
        envelopes = [decode(record.value) for record in records]
        failures = 0
        while True:
            try:
                result = await self._projector.project(envelopes)
                break
            except Exception as exc:
                if not (is_transient(exc) or isinstance(exc, KafkaUnavailable)):
                    raise
                failures += 1
                metrics.PROJECTOR_OUTAGES.inc()
                log.warning("projector: DynamoDB unavailable (%s); retrying", exc)
                pause = min(self._backoff * 2**failures, OUTAGE_PAUSE_MAX)
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                    return False
                except TimeoutError:
                    continue
        for observe in self._observers:
            observe(envelopes)
        for position, reason in result.rejected.items():
            await self._retry_or_dead_letter(records[position], envelopes[position], reason)
        return True

    async def _retry_or_dead_letter(
        self, record: ConsumerRecord, envelope: Any, reason: str
    ) -> None:
        for attempt in range(1, self._max_attempts):
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            result = await self._projector.project([envelope])
            if not result.rejected:
                return
            reason = result.rejected[0]
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        log.error(
            "projector: dead-lettering %s after %d attempts: %s", origin, self._max_attempts, reason
        )
        await self._dead_letters.dead_letter(record.value or b"", record.key, reason, origin)
        metrics.DEAD_LETTERS.inc()

    async def _report_lag(self) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                position = await self._consumer.position(tp)
                metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, highwater - position))
