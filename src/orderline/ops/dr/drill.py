"""`orderline dr drill`: take the home region out for this process and measure RTO and RPO.

1. warm: a probe canary is written in the home region and awaited in every replica; then
   canaries are written at `rate` for `warm_seconds` (the replication in flight).
2. cut: what every replica lacks of the acknowledged canaries is counted at once (RPO: how many,
   and how old the oldest missing one is), and the home region's client is swapped for one on
   an unreachable endpoint: reads of the probe go through the region-choosing client until a
   replica answers (RTO: from the cut to that first successful read); meanwhile canary writes
   go on and are refused (writes are home-only) for `cut_seconds`.
3. home back: the real client returns, the circuit goes half-open, and reads go on until the
   home region answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orderline.adapters.dynamodb.errors import is_transient
from orderline.adapters.dynamodb.protocol import DynamoDBClient
from orderline.adapters.dynamodb.regions import RegionalClient, track_reads

from .canary import CanaryRun, canary_table

WRITE_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class DrillPolicy:
    rate: float = 20.0  # canaries written per second
    warm_seconds: float = 2.0  # canaries written before the cut
    cut_seconds: float = 3.0  # how long the home region stays out
    timeout: float = 30.0  # the longest any phase waits


@dataclass
class DrillReport:
    home: str
    replicas: list[str]
    canaries_before: int = 0
    missing_at_cut: int = 0  # acknowledged by home, absent from the replica answering first
    rpo_seconds: float = 0.0  # age at the cut of the oldest canary a replica lacked
    rto_seconds: float | None = None  # cut -> first successful replica read
    answered_by: str | None = None
    reads_ok: int = 0
    reads_failed: int = 0
    writes_refused: int = 0
    home_back_seconds: float | None = None  # restore -> first read the home region answered
    missing_by_region: dict[str, int] = field(default_factory=dict)


Phase = Callable[[str], None]


class Drill:
    def __init__(
        self,
        regional: RegionalClient,
        unreachable: DynamoDBClient,
        prefix: str,
        policy: DrillPolicy | None = None,
    ) -> None:
        self.regional = regional
        self.unreachable = unreachable
        self.policy = policy or DrillPolicy()
        self.canaries = CanaryRun(prefix)
        self.report = DrillReport(regional.home.name, [link.name for link in regional.links[1:]])
        self._probe = ""

    async def run(self, phase: Phase) -> DrillReport:
        home = self.regional.home.client
        try:
            await self._warm(home)
            phase("warm")
            await self._cut(home)
            phase("cut")
            await self._restore(home)
            phase("home back")
        finally:
            self.regional.home.client = home
            await self.canaries.clean_up(home)
        return self.report

    async def _warm(self, home: DynamoDBClient) -> None:
        self._probe = await self.canaries.write(home)
        for link in self.regional.links[1:]:
            waited = await self.canaries.wait_for(
                link.client, self._probe, within=self.policy.timeout
            )
            if waited is None:
                raise TimeoutError(f"the probe canary never reached {link.name}")
        ends = time.monotonic() + self.policy.warm_seconds
        while time.monotonic() < ends:
            await self.canaries.write(home)
            await asyncio.sleep(1 / self.policy.rate)
        self.report.canaries_before = len(self.canaries.written)

    async def _cut(self, home: DynamoDBClient) -> None:
        cut = time.monotonic()
        acknowledged = dict(self.canaries.written)
        self.regional.home.client = self.unreachable
        await self._count_missing(acknowledged, cut)
        writer = asyncio.create_task(self._write_through(cut + self.policy.cut_seconds))
        home_name = self.report.home
        await self._read_until(
            lambda region: region != home_name, cut, at_least=self.policy.cut_seconds
        )
        await writer

    async def _count_missing(self, acknowledged: dict[str, float], cut: float) -> None:
        """What each replica lacks at the cut; RPO from the first replica's (the failover's)."""
        keys = list(acknowledged)
        for position, link in enumerate(self.regional.links[1:]):
            lacking = set(keys) - await self.canaries.present(link.client, keys)
            self.report.missing_by_region[link.name] = len(lacking)
            if position == 0:
                self.report.missing_at_cut = len(lacking)
                if lacking:
                    self.report.rpo_seconds = cut - min(acknowledged[key] for key in lacking)

    async def _write_through(self, until: float) -> None:
        while time.monotonic() < until:
            try:  # a write the home region cannot take is refused within a second
                await asyncio.wait_for(self.canaries.write(self.regional), WRITE_WAIT_SECONDS)
            except Exception as exc:
                if not (is_transient(exc) or isinstance(exc, TimeoutError)):
                    raise
                self.report.writes_refused += 1
            await asyncio.sleep(1 / self.policy.rate)

    async def _read_until(
        self, done: Callable[[str], bool], since: float, *, at_least: float = 0.0
    ) -> float:
        """Read the probe until a region `done` accepts has answered and `at_least` seconds
        have passed; seconds from `since` to that region's first answer."""
        answered = track_reads()
        deadline = since + max(self.policy.timeout, at_least)
        took: float | None = None
        while time.monotonic() < deadline:
            try:
                await self.regional.get_item(
                    TableName=canary_table(self.canaries.prefix),
                    Key={"orderId": {"S": self._probe}},
                )
            except Exception:
                self.report.reads_failed += 1
            else:
                self.report.reads_ok += 1
                if took is None and answered and done(answered[-1]):
                    took = time.monotonic() - since
                    if self.report.rto_seconds is None:
                        self.report.rto_seconds, self.report.answered_by = took, answered[-1]
            if took is not None and time.monotonic() >= since + at_least:
                return took
            await asyncio.sleep(0.01)
        raise TimeoutError(f"the expected region did not answer within {self.policy.timeout} s")

    async def _restore(self, home: DynamoDBClient) -> None:
        restored = time.monotonic()
        self.regional.home.client = home
        self.regional.home.circuit.force_open(False)  # half-open: the next read probes home
        home_name = self.report.home
        self.report.home_back_seconds = await self._read_until(
            lambda region: region == home_name, restored
        )
