"""Any command sequence leaves an order in a reachable state with contiguous versions."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from orderline.domain.errors import DomainError
from orderline.domain.status import OrderStatus as S

from ..helpers.factories import T0, item, placed_order
from ..helpers.lifecycle import ALLOWED


def reachable_from_pending() -> set[S]:
    seen, queue = {S.PENDING}, deque([S.PENDING])
    while queue:
        current = queue.popleft()
        for source, target in ALLOWED:
            if source == current and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


status_change = st.tuples(st.just("status"), st.sampled_from(list(S)))
item_change = st.tuples(st.just("items"), st.integers(min_value=1, max_value=5))
commands = st.lists(st.one_of(status_change, item_change), max_size=30)


@given(commands)
def test_random_commands_keep_the_aggregate_consistent(steps: list[tuple[str, object]]) -> None:
    order = placed_order()
    path = [order.status]
    for kind, argument in steps:
        try:
            if kind == "status":
                assert isinstance(argument, S)
                order.change_status(argument, user_id="u", now=T0)
            else:
                assert isinstance(argument, int)
                order.update(now=T0, items=[item("pizza", argument)])
        except DomainError:
            pass
        if order.status != path[-1]:
            assert (path[-1], order.status) in ALLOWED
            path.append(order.status)
    assert order.status in reachable_from_pending()
    versions = [event.version for event in order.events]
    assert versions == list(range(1, order.version + 1))
    assert len({event.event_id for event in order.events}) == len(order.events)
