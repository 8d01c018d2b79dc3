"""checkov findings the export accepts, written into the template beside the resource.

Each skip names the check and why it does not apply; `tests/unit/test_deploy_template.py` runs
checkov on every export option set and fails on any finding not skipped here.
"""

from __future__ import annotations

from typing import Any


def skip_checks(resource: dict[str, Any], reasons: dict[str, str]) -> dict[str, Any]:
    """`resource` with a `Metadata.checkov.skip` entry per check id, each with its reason."""
    skips = [{"id": check, "comment": reason} for check, reason in reasons.items()]
    return {**resource, "Metadata": {"checkov": {"skip": skips}}}
