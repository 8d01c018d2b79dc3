"""Retention: prune published outbox rows and expire idempotency keys, in small batches.

An outbox row goes only when it is published, older than the retention period, and at or below
the outbox position of the newest verified backup of the read model, so that backup plus the
rows left can always rebuild it. Without any verified backup nothing is pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from orderline import metrics
from orderline.adapters.postgres import retention as store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_days: float = 7.0
    idempotency_hours: float = 24.0
    batch_size: int = 1000
    interval_seconds: float = 300.0
    table_prefix: str = "orderline-"


@dataclass
class PruneReport:
    backup_position: int | None
    backup_location: str | None
    cutoff: datetime
    outbox_rows: int = 0
    idempotency_keys: int = 0
    oldest_kept: datetime | None = None
    dry_run: bool = False


async def prune(
    engine: AsyncEngine,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PruneReport:
    """One full pass: every prunable row and expired key, `batch_size` per transaction."""
    at = now()
    backup = await store.newest_backup(engine, policy.table_prefix)
    report = PruneReport(
        backup_position=backup.outbox_position if backup else None,
        backup_location=backup.location if backup else None,
        cutoff=at - timedelta(days=policy.outbox_days),
        dry_run=dry_run,
    )
    keys_before = at - timedelta(hours=policy.idempotency_hours)
    through = backup.outbox_position if backup else None
    if dry_run:
        await _count(engine, report, through, keys_before)
    else:
        await _delete(engine, policy, report, through, keys_before)
    report.oldest_kept = await store.oldest_kept(engine)
    age = (at - report.oldest_kept).total_seconds() if report.oldest_kept else 0.0
    metrics.OUTBOX_OLDEST_KEPT_AGE.set(max(0.0, age))
    return report


async def _count(
    engine: AsyncEngine, report: PruneReport, through: int | None, keys_before: datetime
) -> None:
    if through is not None:
        report.outbox_rows = await store.count_prunable(
            engine, before=report.cutoff, through=through
        )
    report.idempotency_keys = await store.count_expired_keys(engine, before=keys_before)


async def _delete(
    engine: AsyncEngine,
    policy: RetentionPolicy,
    report: PruneReport,
    through: int | None,
    keys_before: datetime,
) -> None:
    size = policy.batch_size
    if through is not None:
        report.outbox_rows = await _drain(
            lambda: store.prune_outbox_batch(
                engine, before=report.cutoff, through=through, batch=size
            ),
            size,
        )
    report.idempotency_keys = await _drain(
        lambda: store.expire_keys_batch(engine, before=keys_before, batch=size), size
    )
    metrics.OUTBOX_PRUNED.inc(report.outbox_rows)
    metrics.IDEMPOTENCY_KEYS_EXPIRED.inc(report.idempotency_keys)


async def _drain(batch: Callable[[], Awaitable[int]], size: int) -> int:
    total = 0
    while True:
        done = await batch()
        total += done
        if done < size:
            return total
        await asyncio.sleep(0)  # let the service breathe between batches


class RetentionLoop:
    """The periodic job `serve` runs: one prune pass every `interval_seconds`."""

    def __init__(self, engine: AsyncEngine, policy: RetentionPolicy) -> None:
        self._engine = engine
        self._policy = policy

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await prune(self._engine, self._policy)
            except Exception:
                log.exception("retention pass failed; trying again next interval")
            else:
                if report.outbox_rows or report.idempotency_keys:
                    log.info(
                        "retention: pruned %d outbox rows, expired %d idempotency keys",
                        report.outbox_rows,
                        report.idempotency_keys,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._policy.interval_seconds)


async def history_warning(engine: AsyncEngine, table_prefix: str) -> str | None:
    """What `replay` must say when the outbox no longer holds every event; None when it does."""
    pruned = await store.pruned_through(engine)
    if not pruned:
        return None
    backup = await store.newest_backup(engine, table_prefix)
    where = (
        f"restore the backup at {backup.location} (outbox position {backup.outbox_position}) "
        "with `orderline restore` first, then replay"
        if backup
        else "restore a read-model backup first, then replay"
    )
    return (
        f"the outbox no longer holds full history (events up to id {pruned} were pruned); "
        f"a replay alone rebuilds an incomplete read model: {where}"
    )
