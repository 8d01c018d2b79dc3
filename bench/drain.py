"""The projector drains a backlog vs plain BatchWriteItem of the same items (issue 20's goal:
the projector at >= 50 % of the plain rate, on DynamoDB Local, in the same run).

A backlog of `--events` events (orders placed and moved through 4 statuses, interleaved, at
1,000 restaurants) is projected in the relay's batches (`--batch`, one after the other, as a
relay drains its outbox). The same items the projector writes (history entries, and each
batch's newest status and details per order, recorded in a dry run) are then written by plain
unconditional BatchWriteItem calls, 25 items a call, as many calls in flight as the projector
allows itself. Both on fresh tables of the same emulator.

Run on a quiet machine only: `python -m bench.drain` (DynamoDB Local when this machine can run
it, else moto), `--emulator moto`, `--events 20000`. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orderline import dynamodb_local
from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.dynamodb.tables import TABLES
from orderline.config import Settings
from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Order, OrderItem
from orderline.embedded import embedded_dynamodb
from orderline.ops.provisioning.cost_recording import RecordingClient
from orderline.readmodel.item_writes import BATCH_WRITE_ITEMS, Put, batch_put
from orderline.readmodel.projector import CONCURRENCY, Projector

REPO = Path(__file__).parents[1]


@contextmanager
def emulator(choice: str) -> Iterator[tuple[str, str]]:
    reason = dynamodb_local.unavailable_reason(REPO / ".tools")
    if choice != "moto" and reason is None:
        with dynamodb_local.running(REPO / ".tools") as endpoint:
            yield "DynamoDB Local", endpoint
    else:
        print(f"DynamoDB Local not used ({reason or 'asked for moto'}); moto", file=sys.stderr)
        with embedded_dynamodb() as endpoint:
            yield "moto", endpoint


def backlog(events: int, rng: random.Random) -> list[dict[str, Any]]:
    """`events` envelopes: orders placed and moved on, interleaved as a busy hour commits them."""
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    orders, envelopes = [], []
    for number in range((events + 4) // 5):
        order = Order.place(
            order_id=uuid.UUID(int=rng.getrandbits(128)),
            customer_id=f"customer-{number % 5_000}",
            restaurant_id=f"restaurant-{rng.randrange(1_000)}",
            channel_id="web",
            currency="USD",
            items=[OrderItem("pizza", "Pizza", 1, Money.of("15.99", "USD"))],
            delivery=DeliveryLocation("1 Main St", "New York", "10001", 40.7, -74.0),
            now=start,
        )
        orders.append(order)
    for step in range(5):
        for order in orders:
            if step and order.status.allowed_next():
                at = start + timedelta(minutes=10 * step)
                order.change_status(order.status.allowed_next()[0], user_id="staff", now=at)
            if len(order.events) > step:
                envelopes.append(order.events[step].envelope())
    return envelopes[:events]


def batches(envelopes: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [envelopes[at : at + size] for at in range(0, len(envelopes), size)]


async def recorded_items(prefix: str, work: list[list[dict[str, Any]]]) -> list[Put]:
    """The items the projector writes for `work`, as plain puts (a dry run, no DynamoDB)."""
    recorder = RecordingClient()
    projector = Projector(recorder, prefix)
    for batch in work:
        await projector.project(batch)
    return [
        Put("", action["Put"]["TableName"], action["Put"]["Item"])
        for request in recorder.requests
        for action in request.actions
    ]


async def plain(client: Any, puts: list[Put]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    by_table: dict[str, list[Put]] = {}
    for put in puts:
        by_table.setdefault(put.table, []).append(put)
    chunks = [
        items[at : at + BATCH_WRITE_ITEMS]
        for items in by_table.values()
        for at in range(0, len(items), BATCH_WRITE_ITEMS)
    ]

    async def send(chunk: list[Put]) -> None:
        async with gate:
            await batch_put(client, chunk)

    await asyncio.gather(*(send(chunk) for chunk in chunks))


async def measure(endpoint: str, events: int, batch: int) -> dict[str, Any]:
    settings = Settings(dynamodb_endpoint=endpoint, dynamodb_timeout_seconds=60)
    work = batches(backlog(events, random.Random(20)), batch)
    ours, theirs = f"drain-{uuid.uuid4().hex[:6]}-", f"plain-{uuid.uuid4().hex[:6]}-"
    async with dynamodb_client(settings) as client:
        await ensure_tables(client, ours, TABLES)
        await ensure_tables(client, theirs, TABLES)
        projector = Projector(client, ours)
        started = time.perf_counter()
        for chunk in work:
            result = await projector.project(chunk)
            assert not result.rejected, result.rejected
        projected = time.perf_counter() - started
        puts = await recorded_items(theirs, work)
        started = time.perf_counter()
        await plain(client, puts)
        written = time.perf_counter() - started
    return {
        "events": events,
        "relay_batch": batch,
        "items": len(puts),
        "projector_events_per_s": round(events / projected, 1),
        "plain_events_per_s": round(events / written, 1),
        "projector_share_of_plain": round(written / projected, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="events per projector batch")
    parser.add_argument("--emulator", choices=["dynamodb-local", "moto"], default="dynamodb-local")
    args = parser.parse_args(argv)
    with emulator(args.emulator) as (name, endpoint):
        figures = asyncio.run(measure(endpoint, args.events, args.batch))
    print(json.dumps({"emulator": name, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
