"""The event-bus contract, run against every adapter: in-process and Kafka (tansu).

What the relay relies on: `publish` returns only when the events are delivered or durably
accepted; every event reaches the projector at least once; one order's events reach it in
version order; an event the projector rejects is reported (to the publisher, or in the
dead-letter topic) while the others flow on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from orderline.adapters.in_process import InProcessEventBus
from orderline.adapters.kafka import KafkaPublisher, KafkaTopics, ensure_topics, projector_consumer
from orderline.readmodel.projector import ProjectionResult
from orderline.workers.consumer import KafkaProjection

POISON = "poison"


@dataclass
class Recorder:
    """Stands in for the projector: records what arrives, rejects events marked poison."""

    seen: list[dict[str, Any]] = field(default_factory=list)

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult:
        rejected = {}
        for position, envelope in enumerate(raw_envelopes):
            if envelope.get("eventType") == POISON:
                rejected[position] = "cannot apply a poison event"
            else:
                self.seen.append(envelope)
        return ProjectionResult(applied=len(raw_envelopes) - len(rejected), rejected=rejected)


@dataclass
class Harness:
    kind: str
    publish: Any
    recorder: Recorder
    dead_letters: Any = None  # async () -> list of (value, headers)


def events(orders: int, versions: int) -> list[dict[str, Any]]:
    ids = [str(uuid.uuid4()) for _ in range(orders)]
    return [
        {"eventId": str(uuid.uuid4()), "eventType": "E", "orderId": order_id, "version": version}
        for version in range(1, versions + 1)
        for order_id in ids
    ]


@pytest.fixture(params=["in-process", "kafka"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    recorder = Recorder()
    if request.param == "in-process":
        yield Harness("in-process", InProcessEventBus(recorder).publish, recorder)
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    topics = KafkaTopics(
        bootstrap,
        f"contract-{uuid.uuid4().hex[:8]}",
        partitions=3,
        idempotence=False,
        group=f"g-{uuid.uuid4().hex[:6]}",
    )
    await ensure_topics(topics)
    publisher = KafkaPublisher(topics)
    await publisher.start()
    projection = KafkaProjection(
        projector_consumer(topics), recorder, publisher, max_attempts=2, backoff_seconds=0.01
    )
    stop = asyncio.Event()
    task = asyncio.create_task(projection.run(stop))

    async def dead_letters() -> list[tuple[bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(
            topics.dead_letter_topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=3000)
            return [
                (record.value, dict(record.headers))
                for records in batches.values()
                for record in records
            ]
        finally:
            await consumer.stop()

    try:
        yield Harness("kafka", publisher.publish, recorder, dead_letters)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await publisher.stop()


async def arrived(recorder: Recorder, count: int) -> None:
    for _ in range(300):
        if len({event["eventId"] for event in recorder.seen}) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(recorder.seen)} of {count} events arrived")


async def test_every_event_arrives_and_each_orders_events_in_order(harness: Harness) -> None:
    published = events(orders=8, versions=4)
    for start in range(0, len(published), 10):
        assert await harness.publish(published[start : start + 10]) == {}
    await arrived(harness.recorder, len(published))
    assert {e["eventId"] for e in harness.recorder.seen} == {e["eventId"] for e in published}
    by_order: dict[str, list[int]] = {}
    for event in harness.recorder.seen:
        by_order.setdefault(event["orderId"], []).append(event["version"])
    assert all(versions == sorted(versions) for versions in by_order.values())


async def test_a_rejected_event_is_reported_and_the_rest_flow_on(harness: Harness) -> None:
    published = events(orders=3, versions=2)
    poison = {**published[2], "eventType": POISON}
    batch = [*published[:2], poison, *published[3:]]
    rejected = await harness.publish(batch)
    await arrived(harness.recorder, len(published) - 1)
    if harness.kind == "in-process":
        assert rejected == {2: "cannot apply a poison event"}
        return
    assert rejected == {}  # Kafka accepted it; the projector dead-letters it
    letters = await harness.dead_letters()
    assert len(letters) == 1
    value, headers = letters[0]
    assert poison["eventId"].encode() in value
    assert headers["error"] == b"cannot apply a poison event"
