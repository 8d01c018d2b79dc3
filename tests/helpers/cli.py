"""Running `orderline` commands from tests: their environment, in-process or as a process.

The `cli_env` fixture (tests/conftest.py) builds the environment; `invoke` runs a command in
this process (typer's CliRunner); `process_env` is the environment of one started as a process.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner, Result

from orderline.entrypoints.cli import app

ORDERLINE = Path(sys.executable).with_name("orderline")  # the installed command


class CliEnv(dict[str, str]):
    """The ORDERLINE_* variables of the commands one test runs (built by `cli_env`)."""

    @property
    def prefix(self) -> str:
        """The test's own table prefix (present when the test uses DynamoDB)."""
        if "ORDERLINE_TABLE_PREFIX" not in self:
            raise LookupError("cli_env has DynamoDB only for tests that use `dynamodb_endpoint`")
        return self["ORDERLINE_TABLE_PREFIX"]

    @property
    def data_dir(self) -> Path:
        return Path(self["ORDERLINE_DATA_DIR"])


async def invoke(env: Mapping[str, str | None], *args: str) -> Result:
    """`orderline *args` run in this process with `env` set (None unsets a variable), in a
    thread: the command runs its own event loop, which must not meet the test's."""

    def run() -> Result:
        return CliRunner().invoke(app, list(args), env=dict(env))

    return await asyncio.to_thread(run)


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a command started as a process: this one's without its ORDERLINE_*
    variables (a developer's settings must not leak in), plus `env`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERLINE_")} | dict(env)
