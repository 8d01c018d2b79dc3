"""Which stream records are conflicts: another region's overwrite within the window."""

from __future__ import annotations

from typing import Any

from orderline.streams.conflicts import overwritten


def image(region: str, at: str) -> dict[str, Any]:
    return {"threadId": {"S": "t"}, "updatedRegion": {"S": region}, "updatedAt": {"S": at}}


def record(old: dict[str, Any] | None, new: dict[str, Any], event: str = "MODIFY") -> Any:
    change: dict[str, Any] = {"Keys": {"threadId": {"S": "t"}}, "NewImage": new}
    if old is not None:
        change["OldImage"] = old
    return {"eventName": event, "dynamodb": change}


def test_another_regions_write_within_the_window_is_a_conflict_with_both_versions() -> None:
    old = image("us-west-2", "2026-01-01T00:00:00.000000Z")
    new = image("us-east-1", "2026-01-01T00:00:00.400000Z")
    found = overwritten(record(old, new), window=1.0)
    assert found is not None and found.lost == old and found.kept == new
    assert found.key == {"threadId": {"S": "t"}}


def test_same_region_late_insert_or_unstamped_writes_are_not_conflicts() -> None:
    early = image("us-west-2", "2026-01-01T00:00:00.000000Z")
    same = image("us-west-2", "2026-01-01T00:00:00.100000Z")
    late = image("us-east-1", "2026-01-01T00:00:09.000000Z")
    assert overwritten(record(early, same), window=1.0) is None
    assert overwritten(record(early, late), window=1.0) is None
    assert overwritten(record(None, late, "INSERT"), window=1.0) is None
    assert overwritten(record({"threadId": {"S": "t"}}, late), window=1.0) is None  # a guard
