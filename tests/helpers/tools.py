"""Tools some tests need from the machine (Debian packages): skipped with one line when missing,
an error when CI requires them (ORDERLINE_TEST_REQUIRE_BROWSER=1, set by .ci/run)."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_TOOLS = "ORDERLINE_TEST_REQUIRE_BROWSER"


def require(*programs: str, package: str) -> dict[str, str]:
    """The paths of `programs`; skip (or fail when required) if one is missing."""
    found = {program: shutil.which(program) for program in programs}
    missing = [program for program, path in found.items() if path is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install {package}; `make test` does)"
        if os.environ.get(REQUIRE_TOOLS) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_TOOLS}=1 requires it", pytrace=False)
        pytest.skip(reason)
    return {program: path for program, path in found.items() if path is not None}
