"""The README's curl walkthrough runs as written against a real server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..helpers.cli import process_env
from ..helpers.server import RunningServer

README = Path(__file__).parents[2] / "README.md"


def walkthrough_script() -> str:
    section = README.read_text().split("## Walkthrough", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "README has no bash block under 'Walkthrough'"
    return found.group(1)


def test_walkthrough_runs_as_written(server: RunningServer) -> None:
    script = walkthrough_script()
    assert script.startswith("BASE=http://127.0.0.1:8000\n")
    script = script.replace("BASE=http://127.0.0.1:8000", f"BASE={server.base_url}", 1)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=README.parent,  # where .venv/bin/orderline is
        env=process_env(server.cli_env()),  # `orderline token issue` signs with its key
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"placed [0-9a-f-]{36}", out)
    assert "401\n404\n" in out  # no token; another customer's order
    assert '"userId":"chef-17"' in out  # the actor is the token's subject
    assert '"totalAmount":"31.98"' in out
    # seed 001's example, money as a JSON number
    assert '"unitPrice":"15.99","totalPrice":"15.99"}],"totalAmount":"15.99"' in out
    assert '"status":"PROCESSING"' in out
    assert '"allowedNext":["SHIPPED","CANCELLED"]' in out
    assert '"estimatedDeliveryTime":"2030-01-15T14:30:00.000000Z"' in out
    assert '"status":"ok"' in out
    assert re.search(r"(?i)x-read-source: (cache|dynamodb|postgres)", out)
    assert '"notFound":["00000000-0000-4000-8000-000000000000"]' in out
    assert '"eventType":"OrderStatusChanged","status":"PROCESSING"' in out
    assert '"reason":"kitchen accepted"' in out
    assert '"PROCESSING":{"count":1' in out  # the counters saw the change
    assert "orderline_reads_total{" in out
    assert "orderline_outbox_backlog " in out
