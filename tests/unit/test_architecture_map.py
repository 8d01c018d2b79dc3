"""The behaviour table of docs/architecture.md names files and functions that exist."""

from __future__ import annotations

import re

from tests.helpers import REPO

SOURCE = REPO / "src" / "orderline"
ENTRY = re.compile(r"`([\w/]+\.py):(\w+)`")


def behaviour_section() -> str:
    text = (REPO / "docs" / "architecture.md").read_text()
    return text.split("## Where each behaviour lives", 1)[1].split("\n## ", 1)[0]


def test_the_table_lists_twenty_behaviours() -> None:
    lines = behaviour_section().splitlines()
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert len(rows) >= 20


def test_every_file_and_function_named_exists() -> None:
    entries = ENTRY.findall(behaviour_section())
    missing = []
    for path, name in entries:
        file = SOURCE / path
        if not file.is_file():
            missing.append(f"{path} (no such file)")
        elif not re.search(rf"^\s*(async def|def|class) {name}\b", file.read_text(), re.M):
            missing.append(f"{path}:{name}")
    assert entries
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"
