"""Live migration of `order-status` to `order-status-v2` (statusGroup added) under load:
dual-write -> backfill -> read-new -> cutover, and rollback. At every phase boundary, and by a
reader running throughout: no lost write, no read of a missing item, every item transformed."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any
from uuid import UUID

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.bootstrap import Container
from orderline.config import Settings
from orderline.ops.bulk.dynamodb_http import open_wire
from orderline.ops.table_copy import online_migration
from orderline.ops.table_copy.transforms import status_group

from ..helpers.cli import CliEnv, invoke
from ..helpers.orders import confirm, place

TRANSFORM = "orderline.ops.table_copy.transforms:order_status_v2"


class Load:
    """Writes (place, confirm) and reads (GetItem on the table reads use) until stopped."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.projected: dict[UUID, int] = {}  # order -> version known projected
        self.missing: list[tuple[UUID, str]] = []
        self.reads = 0
        self.rounds = 0
        self.stop = asyncio.Event()
        self._round = asyncio.Event()

    async def run(self) -> None:
        relay = self.container.relay
        assert relay is not None
        while not self.stop.is_set():
            order_id = await place(self.container)
            pending = {order_id: 1}
            if self.projected and random.random() < 0.5:
                other = random.choice(list(self.projected))
                if self.projected[other] == 1:
                    await confirm(self.container, other)
                    pending[other] = 2
            await relay.drain()
            self.projected.update(pending)
            await self.read_some()
            self.rounds += 1
            self._round.set()

    async def ran(self, rounds: int = 3) -> None:
        """Wait until the load has gone `rounds` more times round (writes, projection, reads)."""
        target = self.rounds + rounds
        while self.rounds < target:
            self._round.clear()
            await asyncio.wait_for(self._round.wait(), 120)

    async def read_some(self) -> None:
        assert self.container.table_router is not None
        for order_id in random.sample(list(self.projected), min(5, len(self.projected))):
            table = self.container.table_router.status_read().table
            item = await item_of(self.container, table, order_id)
            self.reads += 1
            if item is None or int(item["version"]["N"]) < self.projected[order_id]:
                self.missing.append((order_id, table))


async def item_of(container: Container, table: str, order_id: UUID) -> dict[str, Any] | None:
    response = await container.dynamodb.get_item(
        TableName=table, Key={"orderId": {"S": str(order_id)}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


async def assert_complete(container: Container, table: str, transformed: bool) -> int:
    """Every order PostgreSQL has is in `table` at its version (and transformed)."""
    assert container.relay is not None
    await container.relay.drain()
    checked = 0
    async for documents in container.orders.recent(100_000):
        for document in documents:
            item = await item_of(container, table, UUID(document["id"]))
            assert item is not None, f"{document['id']} missing from {table}"
            assert int(item["version"]["N"]) == int(document["version"]), table
            if transformed:
                assert item["statusGroup"]["S"] == status_group(item)
                assert item["status"]["S"] == document["status"]
            checked += 1
    return checked


async def test_order_status_migrates_live_without_losing_a_write_or_a_read(
    container: Container, dynamodb_endpoint: str, tmp_path: Path
) -> None:
    router = container.table_router
    assert router is not None and container.relay is not None
    router.poll_seconds = 0.05  # processes poll the phase; short here to keep the test short
    old = router.status_read().table
    new = f"{container.settings.table_prefix}order-status-v2"
    for _ in range(40):  # history the backfill must bring over
        await place(container)
    await container.relay.drain()

    load = Load(container)
    running = asyncio.create_task(load.run())
    settings = Settings(dynamodb_endpoint=dynamodb_endpoint)
    async with open_wire(settings) as wire:
        await online_migration.start(
            container.engine, container.dynamodb, "status-v2", old, new, TRANSFORM
        )
        await load.ran()
        step = {"grace_seconds": 0.2, "checkpoint_dir": tmp_path}
        advanced = await online_migration.advance(
            container.engine, container.dynamodb, wire, "status-v2", **step
        )
        assert advanced.phase == "backfill" and advanced.backfill is not None
        assert advanced.backfill.written >= 40  # the history, plus what raced dual-write
        await load.ran()
        load.stop.set()
        await running
        assert await assert_complete(container, old, transformed=False) >= 40
        assert await assert_complete(container, new, transformed=True) >= 40

        for phase in ("read-new", "cutover"):
            load.stop.clear()
            running = asyncio.create_task(load.run())
            await load.ran()
            moved = await online_migration.advance(
                container.engine, container.dynamodb, wire, "status-v2", **step
            )
            assert moved.phase == phase
            await load.ran()
            load.stop.set()
            await running
            assert router.status_read().table == new
            await assert_complete(container, new, transformed=True)

    assert load.reads > 50 and load.missing == []
    # after cutover the old table no longer receives writes
    order_id = await place(container)
    await container.relay.drain()
    assert await item_of(container, new, order_id) is not None
    assert await item_of(container, old, order_id) is None
    assert (await online_migration.get(container.engine, "status-v2")).phase == "cutover"


async def test_rollback_returns_reads_and_writes_to_the_old_table(
    container: Container, dynamodb_endpoint: str, tmp_path: Path
) -> None:
    router = container.table_router
    assert router is not None and container.relay is not None
    router.poll_seconds = 0.05
    old = router.status_read().table
    new = f"{container.settings.table_prefix}order-status-v2"
    await place(container)
    await container.relay.drain()
    async with open_wire(Settings(dynamodb_endpoint=dynamodb_endpoint)) as wire:
        await online_migration.start(
            container.engine, container.dynamodb, "v2", old, new, TRANSFORM
        )
        step = {"grace_seconds": 0.1, "checkpoint_dir": tmp_path}
        await online_migration.advance(container.engine, container.dynamodb, wire, "v2", **step)
        await online_migration.advance(container.engine, container.dynamodb, wire, "v2", **step)
        await router.refresh_if_stale()  # what the next projector batch does
        assert router.status_read().table == new
    assert await online_migration.rollback(container.engine, "v2") == "read-new"
    await router.refresh()  # what the router's next poll does
    assert router.status_read().table == old
    order_id = await place(container)
    await container.relay.drain()
    assert await item_of(container, old, order_id) is not None  # old received every write
    await assert_complete(container, old, transformed=False)


async def test_migration_commands(dynamodb: Any, cli_env: CliEnv, scratch_database: str) -> None:
    prefix = cli_env.prefix
    await ensure_tables(dynamodb, prefix)
    assert (await invoke(cli_env, "db", "upgrade")).exit_code == 0
    started = await invoke(cli_env, "migration", "start", "v2")
    assert started.exit_code == 0, started.output
    assert f"{prefix}order-status -> {prefix}order-status-v2, phase dual-write" in started.output
    again = await invoke(cli_env, "migration", "start", "v3")
    assert again.exit_code == 1 and "already being migrated by 'v2'" in again.output
    advanced = await invoke(cli_env, "migration", "advance", "v2")
    assert "v2: dual-write -> backfill; backfilled 0 items" in advanced.output, advanced.output
    assert "rolled-back" in (await invoke(cli_env, "migration", "rollback", "v2")).output
    status = await invoke(cli_env, "migration", "status", "v2")
    assert "phase rolled-back" in status.output
    assert "history dual-write -> backfill -> rolled-back" in status.output
    refused = await invoke(cli_env, "migration", "advance", "v2")
    assert refused.exit_code == 1 and "error: nothing follows phase rolled-back" in refused.output
