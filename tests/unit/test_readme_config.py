"""Every setting is documented in the README's configuration table, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

from orderline.config import Settings

README = Path(__file__).parents[2] / "README.md"


def test_the_configuration_table_lists_exactly_the_settings() -> None:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `ORDERLINE_([A-Z_]+)`", section, re.M))
    assert documented == {name.upper() for name in Settings.model_fields}
