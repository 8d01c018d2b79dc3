"""Transforms are named by module path; the path from before ops/ was split still loads."""

from __future__ import annotations

import pytest

from orderline.ops.table_copy.transforms import order_status_v2
from orderline.readmodel.table_migration import identity, load_transform


def test_transform_loads_by_its_module_path() -> None:
    assert load_transform("orderline.ops.table_copy.transforms:order_status_v2") is order_status_v2


def test_transform_under_its_former_module_path_still_loads() -> None:
    assert load_transform("orderline.ops.transforms:order_status_v2") is order_status_v2


def test_no_transform_is_identity() -> None:
    assert load_transform(None) is identity


@pytest.mark.parametrize("path", ["order_status_v2", "orderline.ops.table_copy.transforms:nothing"])
def test_a_bad_transform_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match=r"must be module:function|is not a function"):
        load_transform(path)
