"""Issue 21, finding 9: a restaurant stream's replay (`Last-Event-ID: 0`) reads the outbox
through an index on the restaurant, never by walking every row after the position."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.adapters.postgres.live_feed import PostgresChangeFeed
from orderline.adapters.postgres.unit_of_work import PostgresUnitOfWork
from orderline.domain.access import EVERYTHING, Ownership
from orderline.live.changes import Topic

from ..helpers.factories import placed_order

ROWS = 20_000
RESTAURANTS = 200  # ~100 rows each: one restaurant is 0.5 % of the outbox


async def _fill(engine: AsyncEngine, schema: str) -> None:
    """One real event, copied ROWS times over RESTAURANTS restaurants; then ANALYZE."""
    async with PostgresUnitOfWork(engine, f"ch_{schema}") as uow:
        await uow.orders.add(placed_order(restaurant_id="r-0"))
        await uow.commit()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, order_id, order_version, event_type, payload, "
                "created_at, available_at, published_at, attempts) "
                "SELECT gen_random_uuid(), order_id, order_version, event_type, "
                "jsonb_set(payload, '{payload,order,restaurantId}', "
                "to_jsonb('r-' || (n % :restaurants))), now(), now(), now(), 0 "
                "FROM outbox, generate_series(1, :rows) AS n"
            ),
            {"rows": ROWS, "restaurants": RESTAURANTS},
        )
        await conn.execute(text("ANALYZE outbox"))


async def _plan_of_replay(engine: AsyncEngine, topic: Topic) -> tuple[str, int]:
    """The plan PostgreSQL chooses for the statement `replay` runs, and how many rows it gave."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM outbox" in statement and "restaurantId" in statement:
            seen.append((statement, parameters))

    feed = PostgresChangeFeed(engine, "unused")
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        changes = await feed.replay(0, await feed.head(), topic, 500)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    (statement, parameters), *_ = seen
    async with engine.connect() as conn:
        plan = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(row[0] for row in plan.all()), len(changes)


async def test_a_restaurant_replay_uses_the_restaurant_index(
    engine: AsyncEngine, schema: str
) -> None:
    await _fill(engine, schema)
    for ownership in (EVERYTHING, Ownership(restaurant_id="r-7")):  # staff, the restaurant
        plan, found = await _plan_of_replay(engine, Topic.restaurant("r-7", ownership))
        assert found == ROWS // RESTAURANTS
        assert "outbox_by_restaurant" in plan, plan
        assert "Seq Scan" not in plan and "outbox_pkey" not in plan, plan
