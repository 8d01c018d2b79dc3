from __future__ import annotations

import itertools

import pytest

from orderline.domain.status import OrderStatus as S

from ..helpers.lifecycle import ALLOWED


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_every_pair_of_statuses(current: S, new: S) -> None:
    assert current.can_become(new) is ((current, new) in ALLOWED)


def test_only_delivered_and_cancelled_are_final() -> None:
    assert {status for status in S if status.is_final} == {S.DELIVERED, S.CANCELLED}


def test_status_ids_follow_the_seeds() -> None:
    assert [status.status_id for status in S] == [1, 2, 3, 4, 5, 6]
