"""The live hub's sequencer: id order, a bounded wait for gaps, late commits not lost."""

from __future__ import annotations

from orderline.live.changes import Change
from orderline.live.sequencer import Sequencer


def change(outbox_id: int) -> Change:
    return Change(outbox_id, "order", "rest", {}, b"", 0.0)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_changes_go_out_in_id_order_and_a_gap_waits_for_its_commit() -> None:
    clock, sent = Clock(), []
    sequencer = Sequencer(10, lambda c: sent.append(c.id), grace=0.5, clock=clock)
    sequencer.absorb([change(11), change(13)])
    assert sent == [11] and sequencer.position == 11 and sequencer.due_in() == 0.5
    sequencer.absorb([change(12), change(13)])  # 12 committed after 13: both now, in order
    assert sent == [11, 12, 13] and sequencer.due_in() is None


def test_a_gap_is_skipped_after_the_grace_and_a_late_commit_still_delivered() -> None:
    clock, sent = Clock(), []
    sequencer = Sequencer(0, lambda c: sent.append(c.id), grace=0.5, clock=clock)
    sequencer.absorb([change(2), change(3)])
    assert sent == []
    clock.now = 0.6
    sequencer.absorb([change(2), change(3)])  # 1 never came (rolled back, or still open)
    assert sent == [2, 3] and sequencer.position == 3 and sequencer.skipped == [1]
    sequencer.absorb([change(1)])  # it committed late: delivered, out of order, not lost
    assert sent == [2, 3, 1] and sequencer.skipped == []
    sequencer.absorb([change(3), change(2)])  # re-read rows are not sent twice
    assert sent == [2, 3, 1]


def test_skipped_ids_are_forgotten_after_the_late_window() -> None:
    clock = Clock()
    sequencer = Sequencer(0, lambda c: None, grace=0.0, late_window=60, clock=clock)
    sequencer.absorb([change(5)])
    assert sequencer.skipped == [1, 2, 3, 4]
    clock.now = 61
    sequencer.absorb([])
    assert sequencer.skipped == []
