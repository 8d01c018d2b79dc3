"""Two regions: two emulators of one kind, the replicator double between them.

The home region stops under read load: reads go on from the replica (0 failed, within the RTO
goal), `minVersion` still falls through to PostgreSQL, and a half-open probe brings the home
region back once it answers again. `dr status` reports the replicator's lag, `dr drill` the RTO
and an RPO equal to it.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from orderline.config import Settings

from ..helpers.cli import invoke
from ..helpers.http import order
from ..helpers.regions import (
    HOME,
    LAG,
    REPLICA,
    RTO_GOAL,
    TwoRegions,
    cli_env,
    forum_thread,
    regions,
    replicated_tables,
    serving_regions,
    wait_replicated,
)
from ..helpers.replicator import REPLICATED

__all__ = ["regions"]  # the two emulators: this module's own pair


@dataclass
class Load:
    """Status reads of `ids` in a loop from a thread: each answer with its time."""

    base_url: str
    ids: list[str]
    answers: list[tuple[float, int, str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                for order_id in self.ids:
                    response = client.get(f"/api/orders/{order_id}/status")
                    self.answers.append(
                        (
                            time.monotonic(),
                            response.status_code,
                            response.headers.get("x-read-region", ""),
                            response.headers.get("x-read-source", ""),
                        )
                    )

    def wait_for(self, *, answers: int, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while len(self.answers) < answers:
            assert time.monotonic() < deadline, f"{len(self.answers)} answers in {within} s"
            time.sleep(0.05)

    def since(self, moment: float) -> list[tuple[float, int, str, str]]:
        return [answer for answer in list(self.answers) if answer[0] >= moment]


@pytest.fixture
def region_app(
    regions: TwoRegions, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, Settings]]:
    with serving_regions(regions, database_url, tmp_path) as served:
        yield served


def test_home_stopped_under_read_load_fails_over_and_comes_back(
    regions: TwoRegions, region_app: tuple[str, Settings]
) -> None:
    base_url, settings = region_app
    with httpx.Client(base_url=base_url, timeout=30) as client:
        ids = [client.post("/api/orders", json=order()).json()["id"] for _ in range(4)]
        thread_id = forum_thread(settings)
        wait_replicated(regions, settings, ids)
        wait_replicated(regions, settings, [thread_id], "forum-threads", "threadId")
        with Load(base_url, ids) as load:
            load.wait_for(answers=8)
            assert {answer[2] for answer in load.since(0)} == {HOME}
            stopped = time.monotonic()
            regions.stop_home()
            try:
                time.sleep(3.0)
                during = load.since(stopped)
                assert during and all(code == 200 for _, code, _, _ in during), during
                served = [at for at, _, region, source in during if region == REPLICA]
                assert served and served[0] - stopped <= RTO_GOAL
                assert all(source == "dynamodb" for *_, source in during)
                _min_version_falls_through(client, ids[0])
                _forum_reads_fail_over(client, thread_id)
                ready = client.get("/health/ready").json()
                assert ready["regions"][REPLICA] == "closed"
                assert ready["regions"][HOME] in ("open", "half-open")
                assert ready["checks"][f"dynamodb:{REPLICA}"]["status"] == "up"
                assert set(ready["checks"]["dynamodb"]) == {"status", "latencyMs"}
            finally:
                regions.start_home()
            restarted = time.monotonic()
            deadline = restarted + RTO_GOAL + settings.region_open_seconds
            while not [a for a in load.since(restarted) if a[2] == HOME]:
                assert time.monotonic() < deadline, "the home region never came back"
                time.sleep(0.1)
            assert all(code == 200 for _, code, _, _ in load.since(stopped))
        assert client.get("/health/ready").json()["regions"][HOME] == "closed"


def _min_version_falls_through(client: httpx.Client, order_id: str) -> None:
    """A write while the home region is down; a read asking for its version is PostgreSQL's
    (the replica holds an older one), and says so."""
    changed = client.post(f"/api/orders/{order_id}/status", json={"status": "CONFIRMED"})
    assert changed.status_code == 200, changed.text
    version = changed.json()["version"]
    read = client.get(f"/api/orders/{order_id}/status", params={"minVersion": version})
    assert read.status_code == 200 and read.json()["status"] == "CONFIRMED"
    assert read.headers["x-read-source"] == "postgres"
    assert read.headers["x-read-region"] == "postgres"


def _forum_reads_fail_over(client: httpx.Client, thread_id: str) -> None:
    """Every forum read uses the region-choosing client: the replica answers them too. Writes
    stay home: while it is down they answer 503 with Retry-After."""
    for path in (f"/api/forum/threads/{thread_id}", f"/api/forum/threads/{thread_id}/posts"):
        read = client.get(path)
        assert read.status_code == 200, read.text
        assert read.headers["x-read-region"] == REPLICA
    refused = client.post(
        f"/api/forum/threads/{thread_id}/posts", json={"title": "t", "content": "c"}
    )
    assert refused.status_code == 503, refused.text
    assert "retry-after" in refused.headers


@pytest.fixture
def replicated(regions: TwoRegions, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Tables in both regions under a prefix of the test's own, the replicator between them."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    with replicated_tables(regions, prefix):
        yield cli_env(regions, prefix, tmp_path)


async def test_dr_status_reports_the_replication_lag(replicated: dict[str, str]) -> None:
    result = await invoke(replicated, "dr", "status", "--wait", "15")
    assert result.exit_code == 0, result.output
    lag = float(re.search(r"replication lag \(canary\): us-west-2 ([0-9.]+) s", result.output)[1])
    assert LAG <= lag <= LAG + 1.5, result.output  # the machine may be busy
    for spec in REPLICATED:
        assert spec.name in result.output
    assert "not reported" in result.output  # the emulators report no replicas
    assert "(scan)" in result.output


async def test_dr_drill_reports_rto_and_rpo(replicated: dict[str, str]) -> None:
    result = await invoke(
        replicated, "dr", "drill", "--rto", "5", "--rpo", "2", "--warm", "2", "--cut", "1"
    )
    assert result.exit_code == 0, result.output
    summary = re.search(r"RTO ([0-9.]+) s .* RPO ([0-9.]+) s .* (\d+) failed reads", result.output)
    assert summary is not None, result.output
    rto, rpo, failed = float(summary[1]), float(summary[2]), int(summary[3])
    assert rto <= RTO_GOAL and failed == 0
    # the RPO is the replication lag: every canary younger than the lag is missing at the cut
    # (so never below it, less one canary interval); above it only by the machine's delays
    assert LAG - 0.1 <= rpo <= LAG + 1.5, result.output


async def test_dr_drill_fails_past_the_rpo_limit(replicated: dict[str, str]) -> None:
    result = await invoke(replicated, "dr", "drill", "--rpo", "0.05", "--warm", "1", "--cut", "0.5")
    assert result.exit_code == 1, result.output
    assert "drill FAILED" in result.output
