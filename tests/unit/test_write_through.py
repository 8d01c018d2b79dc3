"""Write-behind: the request only queues; one task projects in batches, best effort."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY

from orderline.readmodel.projector import ProjectionResult
from orderline.readmodel.write_through import WriteThrough
from orderline.workers.runner import in_background

from ..helpers.factories import placed_order


class RecordingProjector:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def project(self, raw_envelopes: Sequence[Any]) -> ProjectionResult:
        await self.release.wait()
        self.batches.append([envelope["eventId"] for envelope in raw_envelopes])
        if self.fail:
            raise ConnectionError("DynamoDB is down")
        return ProjectionResult(applied=len(raw_envelopes))


def placed_events(count: int) -> list[Any]:
    return [placed_order().events[0] for _ in range(count)]


def skipped() -> float:
    return REGISTRY.get_sample_value("orderline_write_through_skipped_events_total") or 0.0


async def test_events_offered_while_a_batch_is_written_go_together_in_the_next() -> None:
    projector = RecordingProjector()
    seen: list[str] = []
    write_through = WriteThrough(
        projector, observers=[lambda envelopes: seen.extend(e["eventId"] for e in envelopes)]
    )
    first, *rest = placed_events(6)
    async with in_background([write_through.run]):
        projector.release.clear()
        await write_through.offer([first])
        await asyncio.sleep(0)  # the task takes the first event and waits on DynamoDB
        for event in rest:
            await write_through.offer([event])
        assert len(seen) == 6  # observers (the cache) saw every event before any projection
        projector.release.set()
        await write_through.idle()
    assert projector.batches == [[str(first.event_id)], [str(e.event_id) for e in rest]]


async def test_a_full_queue_leaves_events_to_the_relay() -> None:
    projector = RecordingProjector()
    write_through = WriteThrough(projector, capacity=3, batch_size=2)
    before = skipped()
    events = placed_events(5)
    await write_through.offer(events[:3])
    await write_through.offer(events[3:])  # over capacity: counted, not queued
    assert skipped() == before + 2
    async with in_background([write_through.run]):
        await write_through.idle()
    assert projector.batches == [[str(e.event_id) for e in events[:2]], [str(events[2].event_id)]]


async def test_a_failed_projection_is_counted_and_the_next_batch_still_runs() -> None:
    projector = RecordingProjector(fail=True)
    write_through = WriteThrough(projector)
    before = REGISTRY.get_sample_value("orderline_write_through_errors_total") or 0.0
    async with in_background([write_through.run]):
        await write_through.offer(placed_events(1))
        await write_through.idle()
        await write_through.offer(placed_events(1))
        await write_through.idle()
    assert len(projector.batches) == 2
    assert REGISTRY.get_sample_value("orderline_write_through_errors_total") == before + 2


async def test_stopping_projects_what_is_still_queued() -> None:
    projector = RecordingProjector()
    write_through = WriteThrough(projector, batch_size=1)
    async with in_background([write_through.run]) as stop:
        await write_through.offer(placed_events(3))
        stop.set()
    assert len(projector.batches) == 3


async def test_when_another_process_projects_only_the_cache_is_refreshed() -> None:
    projector = RecordingProjector()
    seen: list[str] = []
    write_through = WriteThrough(
        projector,
        observers=[lambda envelopes: seen.extend(e["eventId"] for e in envelopes)],
        projects=False,
    )
    events = placed_events(3)
    async with in_background([write_through.run]):
        await write_through.offer(events)
        await write_through.idle()
    assert seen == [str(event.event_id) for event in events]
    assert projector.batches == []  # the projector process writes them, once
