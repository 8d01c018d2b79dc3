"""A dependency that fails at start-up is one line naming it and the setting to change, exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..helpers.broker import Broker
from ..helpers.cli import ORDERLINE, process_env
from ..helpers.processes import free_port


def serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERLINE), "serve"],
        env=process_env(
            {
                "ORDERLINE_PORT": str(free_port()),
                "ORDERLINE_DATA_DIR": str(tmp_path),
                # unreachable DynamoDB is not a start-up failure (reads fall back to PostgreSQL)
                "ORDERLINE_DYNAMODB_ENDPOINT": f"http://127.0.0.1:{free_port()}",
                "ORDERLINE_DYNAMODB_MAX_ATTEMPTS": "1",
                **env,
            }
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1, done.stderr
    for text in expected:
        assert text in errors[0], errors[0]


def test_unreachable_postgresql(tmp_path: Path) -> None:
    url = f"postgresql://orderline:secret@127.0.0.1:{free_port()}/orders"
    done = serve({"ORDERLINE_DATABASE_URL": url}, tmp_path)
    assert_one_line(done, "PostgreSQL at", "is unreachable", "ORDERLINE_DATABASE_URL")
    assert "secret" not in done.stderr


def test_kafka_without_init_producer_id(
    scratch_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    done = serve(
        {
            "ORDERLINE_DATABASE_URL": scratch_database,
            "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        },
        tmp_path,
    )
    assert_one_line(done, "InitProducerId", "ORDERLINE_KAFKA_IDEMPOTENCE=false")


def test_unreachable_kafka(scratch_database: str, tmp_path: Path) -> None:
    nobody = Broker()  # a free port nothing listens on
    done = serve(
        {
            "ORDERLINE_DATABASE_URL": scratch_database,
            "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS": nobody.bootstrap,
        },
        tmp_path,
    )
    assert_one_line(done, "Kafka at", "ORDERLINE_KAFKA_BOOTSTRAP_SERVERS")
