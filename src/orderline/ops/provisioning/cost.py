"""Monthly DynamoDB cost, on demand and provisioned, from the items Orderline really writes.

`cost_recording` records every item the real projector and the real counter aggregator write
for a representative order; here each is priced by DynamoDB's rules: a write outside a
transaction costs 1 write unit per started KB of the item, inside a TransactWriteItems 2, a GSI
copy 1 per KB (2 when its sort key `updatedAt` moves: a delete and a put), an eventually
consistent read 0.5 per 4 KB.

The aggregator's stream batch: the history table's stream is read once per `poll_seconds` per
stream shard, so a batch holds `events per second x poll_seconds / stream_shards` records
(seed 001's 10 M orders with 4 changes each: 19 events/s, so 19 records a batch with one
shard). Counter items shared within a batch (the all-restaurant ones, and a restaurant's with
several of its orders in the batch) are written once, and so is the checkpoint. A large
history table has more partitions, so more stream shards and smaller batches:
`--stream-shards` shows what that costs.

Provisioned capacity is sized for the average rate at `target_utilisation` (auto scaling's
target): capacity units = units per second / utilisation, billed per hour. Peaks above the
average need more; on-demand needs no sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from orderline.adapters.dynamodb.tables import ORDER_STATUS, TableSpec
from orderline.readmodel.documents import Expiry

from .cost_recording import KINDS, Scenario, Written, written_per_order

ITEM_OVERHEAD = 100  # bytes DynamoDB adds to every stored item, base table or index
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = 365 / 12
STATUSES = 6
GB = 1024**3


@dataclass(frozen=True)
class Prices:
    """us-east-1, Standard table class: on demand per million request units, provisioned per
    capacity-unit-hour, storage per GB-month."""

    write_per_million: float = 0.625
    read_per_million: float = 0.125
    storage_gb_month: float = 0.25
    wcu_hour: float = 0.00065
    rcu_hour: float = 0.00013


@dataclass(frozen=True)
class Workload:
    orders_per_month: int = 10_000_000
    reads_per_order: float = 3.0  # seed 001: 30 M reads for 10 M orders
    status_changes_per_order: int = 4  # PENDING -> CONFIRMED -> ... -> DELIVERED
    cache_hit_rate: float = 0.80  # docs/benchmarks.md: the default 5 s cache, Zipf reads
    replica_regions: int = 0
    counter_shards: int = 4
    restaurants: int = 1_000
    poll_seconds: float = 1.0  # the aggregator's reader polls each stream shard this often
    stream_shards: int = 1
    history_days: int = 365  # ORDERLINE_HISTORY_TTL_DAYS
    status_hours: int = 72  # ORDERLINE_READ_MODEL_TTL_HOURS
    target_utilisation: float = 0.7

    @property
    def events_per_second(self) -> float:
        events = self.orders_per_month * (1 + self.status_changes_per_order)
        return events / SECONDS_PER_MONTH

    @property
    def batch_records(self) -> int:
        """Stream records in one aggregator batch: one shard's share of a poll's events."""
        return max(1, round(self.events_per_second * self.poll_seconds / self.stream_shards))


@dataclass(frozen=True)
class Storage:
    current_gb: float  # status (with its GSI copies) and details, while they live
    history_gb: float  # the history entries within their retention
    counters_gb: float  # counter and gauge items (no TTL: priced over the history retention)

    @property
    def total_gb(self) -> float:
        return self.current_gb + self.history_gb + self.counters_gb


@dataclass(frozen=True)
class Estimate:
    write_units: float  # per month
    read_units: float
    storage: Storage
    items_per_order: float
    units_per_order: dict[str, float]  # by item kind (cost_recording.KINDS)
    sizes: dict[str, int]
    prices: Prices = field(default_factory=Prices)
    target_utilisation: float = 0.7

    @property
    def write_units_per_order_total(self) -> float:
        return sum(self.units_per_order.values())

    @property
    def storage_cost(self) -> float:
        return self.storage.total_gb * self.prices.storage_gb_month

    @property
    def write_cost(self) -> float:
        return self.write_units / 1e6 * self.prices.write_per_million

    @property
    def read_cost(self) -> float:
        return self.read_units / 1e6 * self.prices.read_per_million

    @property
    def total(self) -> float:
        """On demand."""
        return self.write_cost + self.read_cost + self.storage_cost

    @property
    def wcu(self) -> float:
        return self.write_units / SECONDS_PER_MONTH / self.target_utilisation

    @property
    def rcu(self) -> float:
        return self.read_units / SECONDS_PER_MONTH / self.target_utilisation

    @property
    def provisioned_write_cost(self) -> float:
        return self.wcu * HOURS_PER_MONTH * self.prices.wcu_hour

    @property
    def provisioned_read_cost(self) -> float:
        return self.rcu * HOURS_PER_MONTH * self.prices.rcu_hour

    @property
    def provisioned_total(self) -> float:
        return self.provisioned_write_cost + self.provisioned_read_cost + self.storage_cost

    @property
    def cheaper(self) -> tuple[str, float]:
        if self.provisioned_total < self.total:
            return "provisioned", self.provisioned_total
        return "on-demand", self.total


def scenario_of(workload: Workload) -> Scenario:
    return Scenario(
        status_changes=workload.status_changes_per_order,
        counter_shards=workload.counter_shards,
        restaurants=workload.restaurants,
        batch_records=workload.batch_records,
        expiry=Expiry(status_hours=workload.status_hours, history_days=workload.history_days),
    )


def estimate(workload: Workload, prices: Prices, status: TableSpec = ORDER_STATUS) -> Estimate:
    """The monthly bill for `workload` at `prices`."""
    written = written_per_order(scenario_of(workload))
    units = units_by_kind(written, status)
    replicated = sum(w.per_order * (_kb(w.size) + _index_units(w, status)) for w in written)
    orders = workload.orders_per_month
    writes = orders * (sum(units.values()) + workload.replica_regions * replicated)
    reads = orders * workload.reads_per_order * (1 - workload.cache_hit_rate) * 0.5
    return Estimate(
        write_units=writes,
        read_units=reads,
        storage=_storage(written, workload, status),
        items_per_order=sum(w.per_order for w in written),
        units_per_order=units,
        sizes={w.table: max(w.size, 0) for w in written},
        prices=prices,
        target_utilisation=workload.target_utilisation,
    )


def units_by_kind(written: list[Written], status: TableSpec = ORDER_STATUS) -> dict[str, float]:
    """Write units per order by item kind (status GSIs apart from the status item itself)."""
    units = dict.fromkeys(KINDS, 0.0)
    for item in written:
        units[item.kind] += item.per_order * _kb(item.size) * (2 if item.transactional else 1)
        units["status GSIs"] += item.per_order * _index_units(item, status)
    return units


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _index_units(written: Written, status: TableSpec) -> int:
    if written.table != status.name:
        return 0
    return len(status.indexes) * _kb(written.size) * (1 if written.first else 2)


def _storage(written: list[Written], workload: Workload, status: TableSpec) -> Storage:
    """Steady state: status and details for their TTL after the last change, history for its
    retention, the counter items the retention's hours hold."""
    last: dict[str, int] = {}
    for item in written:
        last[item.table] = item.size
    live_orders = workload.orders_per_month * workload.status_hours / HOURS_PER_MONTH
    copies = 1 + len(status.indexes)
    current = live_orders * sum(
        (size + ITEM_OVERHEAD) * (copies if table == status.name else 1)
        for table, size in last.items()
        if table in (status.name, "order-details")
    )
    log_bytes = sum(w.size + ITEM_OVERHEAD for w in written if w.kind == "history")
    history = workload.orders_per_month * workload.history_days / DAYS_PER_MONTH * log_bytes
    counter_size = max((w.size for w in written if w.kind == "counters"), default=0)
    hours = workload.history_days * 24
    counters = _counter_items_per_hour(workload) * hours * (counter_size + ITEM_OVERHEAD)
    return Storage(current / GB, history / GB, counters / GB)


def _counter_items_per_hour(workload: Workload) -> float:
    """Hourly counter items an hour fills: every all-restaurant cell, and of the per-restaurant
    cells (restaurant x shard x status) those an hour's entries hit (expected occupancy)."""
    cells = workload.counter_shards * STATUSES
    entries = workload.events_per_second * 3600
    restaurant_cells = workload.restaurants * cells
    hit = restaurant_cells * (1 - math.exp(-entries / restaurant_cells))
    return cells + hit


SEED_001 = {"reads": 7.50, "writes": 12.50, "storage": 2.50, "dax": 54.00}
SEED_001_PRICES = Prices(write_per_million=1.25, read_per_million=0.25, storage_gb_month=0.25)
