"""`make run` from a fresh clone: starts embedded, serves, stops cleanly, restarts with its data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from ..helpers import REPO
from ..helpers.cli import process_env
from ..helpers.http import SMOKE_ORDER
from ..helpers.processes import free_port, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    """A fresh clone, outside pytest's temporary root: run as root, pgserver opens the path's
    folders to its own system user, and any other pytest session on the machine resets
    /tmp/pytest-of-root to 0700 when it starts (initdb then fails: permission denied)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    scratch = Path(tempfile.mkdtemp(prefix="orderline-clone-"))
    target = scratch / "orderline"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    try:
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def clean_env(port: int) -> dict[str, str]:
    """Nothing configured but the port, as for a user who just cloned the repository."""
    return process_env({"ORDERLINE_PORT": str(port)})


@pytest.fixture
def running(clone: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    log = (clone / "make-run.log").open("ab")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=clean_env(port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # the first run installs the environment, hence the long wait
        wait_ready(process, base, what="make run", log=lambda: run_log(clone), seconds=600)
        yield process, base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def run_log(clone: Path) -> str:
    return (clone / "make-run.log").read_text()[-3000:]


def stop(process: subprocess.Popen[bytes], signum: int) -> None:
    os.killpg(process.pid, signum)
    process.wait(timeout=60)


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "postgres" in cmdline and str(data_dir) in cmdline:
            found.append(proc)
    return found


def orderline(clone: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """An `orderline` command run from the clone as a user would, with nothing configured."""
    return subprocess.run(
        [str(clone / ".venv/bin/orderline"), *args],
        cwd=clone,
        env=clean_env(port),
        capture_output=True,
        text=True,
        timeout=120,
    )


def operations_commands_find_the_running_services(clone: Path, port: int) -> None:
    """Beside `make run`, with nothing configured, commands use its embedded services."""
    described = orderline(clone, port, "tables", "describe")
    assert described.returncode == 0, described.stderr
    assert "emulator of `orderline serve`" in described.stderr.splitlines()[0]
    assert "orderline-order-status: ACTIVE" in described.stdout, described.stdout
    deadline = time.monotonic() + 30
    reconciled = orderline(clone, port, "reconcile")
    while reconciled.returncode == 1 and time.monotonic() < deadline:  # still projecting
        reconciled = orderline(clone, port, "reconcile")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "checked 1 orders: 0 drifted items" in reconciled.stdout
    status = orderline(clone, port, "outbox", "status")
    assert status.returncode == 0 and "backlog:" in status.stdout, status.stderr
    assert "of the running `orderline serve`" in status.stderr


def staff_headers(clone: Path) -> dict[str, str]:
    """A token from `orderline token issue`, as the README shows (signed with the data dir's
    key, so it stays valid across restarts)."""
    issued = orderline(
        clone, 0, "token", "issue", "--role", "staff", "--sub", "smoke",
        "--scope", "orders:admin", "--scope", "analytics:read",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    return {"Authorization": f"Bearer {issued.stdout.strip()}"}


def test_make_run_serves_stops_cleanly_and_keeps_data(clone: Path, running: tuple) -> None:  # type: ignore[type-arg]
    process, base = running
    headers = staff_headers(clone)
    created = httpx.post(f"{base}/api/orders", json=SMOKE_ORDER, headers=headers, timeout=10)
    assert created.status_code == 201
    order_id = created.json()["id"]
    confirmed = httpx.post(
        f"{base}/api/orders/{order_id}/status",
        json={"status": "CONFIRMED"},
        headers=headers,
        timeout=10,
    )
    assert confirmed.status_code == 200
    data_dir = (clone / ".orderline").resolve()
    assert postgres_processes(data_dir), "embedded PostgreSQL should run from the data dir"
    operations_commands_find_the_running_services(clone, port=int(base.rsplit(":", 1)[1]))

    stop(process, signal.SIGTERM)
    log = (clone / "make-run.log").read_text()
    assert "stopping embedded PostgreSQL" in log and "Traceback" not in log
    assert not (data_dir / "services.json").exists(), "serve left its services file behind"
    alone = orderline(clone, 0, "tables", "describe")
    assert alone.returncode == 2 and alone.stderr.strip().count("\n") == 0, alone.stderr
    assert "ORDERLINE_DYNAMODB_ENDPOINT" in alone.stderr
    assert not postgres_processes(data_dir), "PostgreSQL left running after SIGTERM"

    port = free_port()
    second_log = (clone / "make-run-2.log").open("wb")
    second = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env={**clean_env(port), "ORDERLINE_LOG_LEVEL": "debug"},
        stdout=second_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(
            second, base, what="make run", log=lambda: run_log(clone), seconds=600
        )  # the first run installs
        assert (
            httpx.get(f"{base}/api/orders/{order_id}", headers=headers, timeout=10).status_code
            == 200
        )
        # The emulator started empty; serve rebuilt the read model from the outbox.
        status = httpx.get(f"{base}/api/orders/{order_id}/status", headers=headers, timeout=10)
        assert status.headers["x-read-source"] in ("cache", "dynamodb"), status.headers
        assert status.json()["status"] == "CONFIRMED"
        history = httpx.get(f"{base}/api/orders/{order_id}/history", headers=headers, timeout=10)
        assert history.headers["x-read-source"] == "dynamodb"
        assert [entry["status"] for entry in history.json()["items"]] == ["CONFIRMED", "PENDING"]
        # the counters follow the history table's stream: counted in the background
        deadline = time.monotonic() + 30
        while True:
            counts = httpx.get(
                f"{base}/api/analytics/status-counts", headers=headers, timeout=10
            ).json()
            if counts["totals"]["CONFIRMED"]["count"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert counts["totals"]["CONFIRMED"]["count"] >= 1

        clash = subprocess.run(
            [str(clone / ".venv/bin/orderline"), "serve"],
            cwd=clone,
            env=clean_env(port),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert clash.returncode == 2
        assert clash.stderr.strip().count("\n") == 0, clash.stderr
        assert "already in use" in clash.stderr and "Traceback" not in clash.stderr

        stop(second, signal.SIGINT)  # Ctrl-C
        second_log.flush()
        assert not postgres_processes(data_dir), (
            "PostgreSQL left running after Ctrl-C: "
            + (clone / "make-run-2.log").read_text()[-3000:]
        )
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
        second_log.close()
