"""The relay against real PostgreSQL and a DynamoDB-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres import outbox
from orderline.bootstrap import Container
from orderline.service_layer.event_bus import BusUnavailable
from orderline.workers.relay import Relay, RelayPolicy

from ..helpers.dynamodb import scan
from ..helpers.orders import confirm, place


async def column(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).scalars())


async def test_relay_projects_every_row_once_and_marks_it_published(container: Container) -> None:
    orders = [await place(container) for _ in range(3)]
    await confirm(container, orders[0])
    assert container.relay is not None
    assert await container.relay.drain() == 4
    assert await column(
        container.engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    ) == [0]
    log = await scan(container.dynamodb, f"{container.settings.table_prefix}order-status-log")
    assert len(log) == 4
    stats = await outbox.stats(container.engine)
    assert (stats.backlog, stats.parked, stats.published) == (0, 0, 4)


class FlakyBus:
    """Rejects one order's events; counts what it was handed."""

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.seen: list[str] = []
        self.handed = asyncio.Event()

    async def publish(self, envelopes: Sequence[dict[str, Any]]) -> dict[int, str]:
        self.seen += [envelope["eventId"] for envelope in envelopes]
        self.handed.set()
        return {
            position: "cannot apply"
            for position, envelope in enumerate(envelopes)
            if envelope["orderId"] == self.poison
        }


async def test_a_rejected_row_backs_off_then_parks_without_holding_back_others(
    container: Container,
) -> None:
    poison, healthy = await place(container), await place(container)
    bus = FlakyBus(str(poison))
    policy = RelayPolicy(max_attempts=3, backoff_seconds=0.05)
    relay = Relay(container.engine, bus.publish, policy=policy)
    await relay.run_once()
    assert await column(
        container.engine,
        f"SELECT published_at IS NOT NULL FROM outbox WHERE order_id = '{healthy}'",
    ) == [True]
    rows = await column(
        container.engine,
        f"SELECT attempts || ':' || (available_at > now()) FROM outbox WHERE order_id = '{poison}'",
    )
    assert rows == ["1:true"]  # backed off
    for _ in range(40):
        await asyncio.sleep(0.05)
        await relay.run_once()
    parked = await column(
        container.engine, "SELECT attempts FROM outbox WHERE parked_at IS NOT NULL"
    )
    assert parked == [3]
    assert (await outbox.stats(container.engine)).parked == 1
    assert await outbox.retry_parked(container.engine) == 1
    assert (await outbox.stats(container.engine)).backlog == 1


async def test_a_bus_outage_counts_no_attempts(container: Container) -> None:
    await place(container)

    async def down(envelopes: Sequence[dict[str, Any]]) -> dict[int, str]:
        raise BusUnavailable("DynamoDB unreachable")

    relay = Relay(container.engine, down)
    try:
        await relay.run_once()
    except BusUnavailable:
        pass
    else:
        raise AssertionError("an outage must surface to the run loop")
    assert await column(container.engine, "SELECT attempts FROM outbox") == [0]
    assert (await outbox.stats(container.engine)).backlog == 1


async def test_relays_running_at_once_never_publish_a_row_twice(container: Container) -> None:
    for _ in range(60):
        await place(container)
    bus = FlakyBus(poison="none")
    relays = [
        Relay(container.engine, bus.publish, policy=RelayPolicy(batch_size=7)) for _ in range(3)
    ]
    await asyncio.gather(*(relay.drain() for relay in relays))
    assert len(bus.seen) == 60 and len(set(bus.seen)) == 60


async def test_notify_wakes_the_relay_long_before_its_poll(
    container: Container, schema: str
) -> None:
    bus = FlakyBus(poison="none")
    relay = Relay(
        container.engine, bus.publish, policy=RelayPolicy(poll_seconds=300), channel=f"ch_{schema}"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.wait_for(relay.waiting.wait(), 5)  # first (empty) claim done; waits 300 s
    await place(container)
    await asyncio.wait_for(bus.handed.wait(), 5)  # woken by NOTIFY, not by its poll
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(bus.seen) == 1
