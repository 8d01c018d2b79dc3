"""The services file that lets operations commands find a running `orderline serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orderline.service_registry import RunningServices, find, registered, registry_file


def test_a_running_serve_is_found_and_its_file_removed_on_exit(tmp_path: Path) -> None:
    services = RunningServices(
        pid=os.getpid(), api="http://127.0.0.1:8000", dynamodb_endpoint="http://127.0.0.1:1"
    )
    with registered(tmp_path, services):
        assert find(tmp_path) == services
        assert registry_file(tmp_path).stat().st_mode & 0o777 == 0o600
    assert find(tmp_path) is None
    assert not registry_file(tmp_path).exists()


def test_the_file_of_a_process_that_is_gone_is_stale(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with registered(tmp_path, RunningServices(pid=gone.pid, api="http://127.0.0.1:8000")):
        assert find(tmp_path) is None


def test_an_unreadable_file_is_ignored(tmp_path: Path) -> None:
    registry_file(tmp_path).write_text("{not json")
    assert find(tmp_path) is None
