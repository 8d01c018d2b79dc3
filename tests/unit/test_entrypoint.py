"""deploy/entrypoint.sh, the image's entrypoint, run outside a container with a fake
`orderline` (the image cannot be built here: no registry to pull its base from)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from orderline.ops.provisioning import ecs_services

from ..helpers import REPO

ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"


@pytest.fixture
def fake_orderline(tmp_path: Path) -> Path:
    """An `orderline` that prints the arguments it was given."""
    script = tmp_path / "orderline"
    script.write_text('#!/bin/sh\necho "orderline $*"\n')
    script.chmod(0o755)
    return script


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "ORDERLINE_PYTHON": sys.executable, **env}
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("kind", ecs_services.KINDS, ids=lambda k: k.name)
def test_each_process_kind_runs_its_command(
    kind: ecs_services.ProcessKind, fake_orderline: Path
) -> None:
    by_argument = _run(kind.name, "--metrics-port", "9", ORDERLINE_BIN=str(fake_orderline))
    assert by_argument.returncode == 0, by_argument.stderr
    assert by_argument.stdout.strip() == f"{kind.command} --metrics-port 9"
    # the task definitions name the process in ORDERLINE_PROCESS and pass no argument
    by_variable = _run(ORDERLINE_BIN=str(fake_orderline), ORDERLINE_PROCESS=kind.name)
    assert by_variable.stdout.strip() == kind.command


def test_without_a_process_it_runs_the_api_and_any_command_passes_through(
    fake_orderline: Path,
) -> None:
    assert _run(ORDERLINE_BIN=str(fake_orderline)).stdout.strip() == "orderline serve --no-workers"
    one_off = _run("orderline", "db", "upgrade", ORDERLINE_BIN=str(fake_orderline))
    assert one_off.stdout.strip() == "orderline db upgrade"


def test_help_and_an_unknown_process() -> None:
    shown = _run("--help")
    assert shown.returncode == 0
    assert "example:" in shown.stdout and "aggregator" in shown.stdout
    unknown = _run("scheduler")
    assert unknown.returncode == 64
    assert "unknown process 'scheduler'" in unknown.stderr


class _Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        known = self.path in ("/health", "/metrics")
        self.send_response(self.status if known else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    _Answer.status = 200


def test_healthcheck_asks_the_api_and_the_workers_metrics(server: HTTPServer) -> None:
    port = str(server.server_address[1])
    assert _run("healthcheck", ORDERLINE_PROCESS="api", ORDERLINE_PORT=port).returncode == 0
    relay = {"ORDERLINE_PROCESS": "relay", "ORDERLINE_METRICS_PORT": port}
    assert _run("healthcheck", **relay).returncode == 0
    _Answer.status = 503
    failed = _run("healthcheck", ORDERLINE_PROCESS="api", ORDERLINE_PORT=port)
    assert failed.returncode == 1
    assert "unhealthy" in failed.stderr


def test_healthcheck_fails_when_nothing_listens_and_passes_for_a_worker_without_metrics() -> None:
    with HTTPServer(("127.0.0.1", 0), _Answer) as closed:
        port = str(closed.server_address[1])  # bound, then closed: nothing listens there
    assert _run("healthcheck", ORDERLINE_PROCESS="api", ORDERLINE_PORT=port).returncode == 1
    assert _run("healthcheck", ORDERLINE_PROCESS="aggregator").returncode == 0


def test_the_image_runs_this_entrypoint_as_a_user_from_the_lock_file() -> None:
    """The Dockerfile and the task definitions agree on the entrypoint's path; the image installs
    from uv.lock only and drops root."""
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f'ENTRYPOINT ["{ecs_services.ENTRYPOINT}"]' in dockerfile
    assert f'CMD ["{ecs_services.ENTRYPOINT}", "healthcheck"]' in dockerfile
    assert "COPY deploy/entrypoint.sh " + ecs_services.ENTRYPOINT in dockerfile
    syncs = [line for line in dockerfile.splitlines() if "uv sync" in line]
    assert len(syncs) == 2 and all("--frozen --no-dev" in line for line in syncs)
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") == 2  # build, runtime
    (user,) = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert ENTRYPOINT.stat().st_mode & 0o111, "the image runs it directly: keep it executable"
