"""Replay rebuilds the read model from the outbox; reconcile finds and repairs drift."""

from __future__ import annotations

from typing import Any

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.tables import TABLES
from orderline.bootstrap import Container, Profile, bootstrap, build_projector, expiry_of
from orderline.readmodel.ports import OrderFilters
from orderline.readmodel.rebuild import Reconciler, replay
from orderline.service_layer import commands

from ..helpers.actors import admin
from ..helpers.cli import CliEnv, invoke
from ..helpers.counting import counted
from ..helpers.dynamodb import new_prefix, scan
from ..helpers.orders import confirm, place
from ..helpers.settings import settings_for


async def some_orders(container: Container) -> list[Any]:
    ids = [await place(container) for _ in range(6)]
    for order_id in ids[:3]:
        await confirm(container, order_id)
    await container.commands.handle(
        commands.DeleteOrder(order_id=ids[5], actor=admin("admin"), expected_version=None)
    )
    assert container.relay is not None
    await container.relay.drain()
    return ids


async def tables_of(client: Any, prefix: str) -> dict[str, list[dict[str, Any]]]:
    def key(item: dict[str, Any]) -> tuple[str, str]:
        return (str(item.get("orderId", item.get("pk"))), str(item.get("sk", "")))

    return {
        spec.name: sorted(await scan(client, spec.table_name(prefix)), key=key) for spec in TABLES
    }


async def test_replay_into_a_new_prefix_equals_the_live_read_model(container: Container) -> None:
    await some_orders(container)
    target = new_prefix()
    await ensure_tables(container.dynamodb, target)
    seen: list[int] = []
    result = await replay(
        container.events,
        build_projector(container.dynamodb, container.settings, target),
        progress=seen.append,
    )
    assert (result.events, result.applied, result.rejected) == (10, 10, 0)
    assert sum(seen) == 10
    live = await tables_of(container.dynamodb, container.settings.table_prefix)
    assert await tables_of(container.dynamodb, target) == live


async def test_reconcile_finds_and_repairs_a_corrupted_item(container: Container) -> None:
    ids = await some_orders(container)
    status_table = f"{container.settings.table_prefix}order-status"
    corrupted = (await container.views.status(ids[1])).document
    assert corrupted is not None
    corrupted = {**corrupted, "status": "DELIVERED", "ttl": 4102444800}
    await container.dynamodb.put_item(TableName=status_table, Item=to_item(corrupted))
    await container.dynamodb.delete_item(
        TableName=f"{container.settings.table_prefix}order-details",
        Key={"orderId": {"S": str(ids[4])}},
    )
    reconciler = Reconciler(
        container.orders,
        container.dynamodb,
        container.settings.table_prefix,
        expiry_of(container.settings),
    )
    report = await reconciler.run(repair=True)
    assert report.orders == 6
    assert report.by_kind == {"status:differs": 1, "details:missing": 1}
    assert report.repaired == 2
    again = await reconciler.run(repair=False)
    assert again.drifts == []


async def test_cli_outbox_status_replay_and_reconcile(
    cli_env: CliEnv, scratch_database: str, dynamodb_endpoint: str
) -> None:
    settings = settings_for(
        scratch_database,
        dynamodb_endpoint,
        write_through=False,
        table_prefix=cli_env.prefix,
        data_dir=cli_env.data_dir,
    )
    async with bootstrap(settings) as container:
        await some_orders(container)
        await counted(container)  # reconcile also compares the counters with the history
    status = await invoke(cli_env, "outbox", "status")
    assert status.exit_code == 0, status.output
    assert "backlog:            0" in status.output and "published:          10" in status.output
    target = new_prefix()
    replayed = await invoke(cli_env, "replay", "--prefix", target)
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed 10 events into {target}*: 10 applied" in replayed.output
    clean = await invoke(cli_env, "reconcile")
    assert clean.exit_code == 0, clean.output
    assert "checked 6 orders: 0 drifted items" in clean.output
    async with bootstrap(settings, profile=Profile.TOOL) as container:
        table = f"{settings.table_prefix}order-status"
        await container.dynamodb.delete_item(
            TableName=table, Key={"orderId": {"S": (await first_order(container))}}
        )
    drifted = await invoke(cli_env, "reconcile")
    assert drifted.exit_code == 1
    assert "status:missing: 1" in drifted.output
    repaired = await invoke(cli_env, "reconcile", "--repair")
    assert repaired.exit_code == 0 and "repaired 1 items" in repaired.output


async def first_order(container: Container) -> str:
    page = await container.orders.page(OrderFilters(), limit=1)
    return str(page.documents[0]["id"])
