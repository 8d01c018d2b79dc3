"""The deployment of docs/deployment.md: API without workers, plus relay and projector processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..helpers.broker import Broker, running_broker
from ..helpers.cli import ORDERLINE, CliEnv, process_env
from ..helpers.http import SMOKE_ORDER
from ..helpers.processes import free_port, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture
def broker() -> Iterator[Broker]:
    with running_broker() as broker:
        yield broker


def test_serve_without_workers_plus_relay_and_projector_processes(
    cli_env: CliEnv, scratch_database: str, dynamodb_endpoint: str, broker: Broker, tmp_path: Path
) -> None:
    port = free_port()
    env = process_env(
        cli_env
        | {
            "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "ORDERLINE_KAFKA_IDEMPOTENCE": "false",
            "ORDERLINE_WRITE_THROUGH": "false",  # so only the Kafka path can project
            "ORDERLINE_PORT": str(port),
            "ORDERLINE_AUTH": "false",  # about the deployment, not about authorization
        }
    )
    processes = []
    try:
        for command in (["serve", "--no-workers"], ["relay"], ["project"]):
            log = (tmp_path / f"{command[0]}.log").open("wb")
            processes.append(
                subprocess.Popen([str(ORDERLINE), *command], env=env, stdout=log, stderr=log)
            )
            if command[0] == "serve":
                wait_ready(
                    processes[0],
                    f"http://127.0.0.1:{port}",
                    what="serve",
                    log=lambda: logs(tmp_path),
                )
        base = f"http://127.0.0.1:{port}"
        order_id = httpx.post(f"{base}/api/orders", json=SMOKE_ORDER, timeout=10).json()["id"]
        changed = httpx.post(
            f"{base}/api/orders/{order_id}/status",
            json={"status": "CONFIRMED"},
            timeout=10,
        )
        assert changed.status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            history = httpx.get(f"{base}/api/orders/{order_id}/history", timeout=10)
            if history.headers["x-read-source"] == "dynamodb" and len(history.json()["items"]) == 2:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the events never reached DynamoDB through Kafka: " + logs(tmp_path))
        page = httpx.get(f"{base}/api/customers/smoke/orders", timeout=10).json()
        assert [item["status"] for item in page["items"]] == ["CONFIRMED"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            assert process.wait(timeout=30) == 0, logs(tmp_path)  # SIGTERM: a clean exit


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in tmp_path.glob("*.log"))
