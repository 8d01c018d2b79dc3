"""The in-process hub: changes committed by any process, fanned out to this process's
subscribers.

The hub LISTENs on the channel the unit of work NOTIFYs on commit. A notification carries
nothing it relies on: it wakes the hub, which reads the outbox after its position (so a
notification from another schema or a lost one costs a query, never a change). When the LISTEN
connection drops, the hub reconnects, LISTENs again and only then catches up from the outbox,
so nothing committed in between is missed. A poll every `poll_seconds` covers the rest.

The feed releases a row only once every older transaction has ended (see `ports.ChangeFeed`),
so the hub just delivers what it is handed, in position order, and moves its position on: no
gap to wait for. While committed rows are held back by an older transaction still open, the
hub reads again every `recheck_seconds` (that transaction may roll back, which notifies nobody).

One `Ticker` keeps every stream's heartbeats and deadlines (no timer per stream). The hub
stamps the stages of a change's way for `metrics.LIVE_STAGE`: wait (commit to the start of the
read that released it: the NOTIFY, rows held back by an older open transaction, a busy loop),
read (that query), release (read to handed to the queues), notify (commit of a read's
newest row to the wake-up before it: an estimate of the NOTIFY's own delay), and held (from
the first read that saw the row committed but held back by an older open transaction to the
read that released it; 0 for a row released at once); the stream adds queue and write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from orderline import metrics

from .changes import Change, Topic
from .ports import ChangeFeed
from .subscription import Ending, Subscription
from .ticker import Ticker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LivePolicy:
    queue_size: int = 256
    max_subscribers: int = 10_000
    max_per_principal: int = 32
    heartbeat_seconds: float = 15.0
    retry_ms: int = 3000
    poll_seconds: float = 5.0
    recheck_seconds: float = 0.05  # while committed rows wait for an older open transaction
    batch_size: int = 500
    final_event_timeout: float = 5.0
    max_stream_seconds: float = 3600.0  # a stream ends after this, or when its token expires
    max_replay_rows: int = 5000  # the most changes one stream replays from the outbox
    tick_seconds: float = 0.5  # the ticker's resolution (at most a quarter of the heartbeat)


class TooManySubscribers(Exception):
    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{limit} live subscriptions {scope} already open")
        self.scope = scope
        self.limit = limit


class Hub:
    def __init__(self, feed: ChangeFeed, policy: LivePolicy) -> None:
        self.feed = feed
        self.policy = policy
        self.ready = asyncio.Event()  # the position is known: subscriptions may start
        self.listener_pid: int | None = None  # the LISTEN connection's backend (tests kill it)
        self._position: int | None = None  # known once the hub has read the feed's head
        self._waiting = False  # committed rows held back by an older open transaction
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._by_order: dict[str, set[Subscription]] = defaultdict(set)
        self._by_restaurant: dict[str, set[Subscription]] = defaultdict(set)
        self._everything: set[Subscription] = set()
        self._per_principal: dict[str, int] = defaultdict(int)
        self._count = 0
        self._closing = False
        self._woken_at = 0.0  # epoch: the last wake-up not yet followed by a read (the stages)
        self._read_at = 0.0  # monotonic: when the last read returned
        self._held_since: dict[int, float] = {}  # committed rows held back: first seen (mono)
        self._release_stage = metrics.LIVE_STAGE.labels("release")
        tick = min(policy.tick_seconds, policy.heartbeat_seconds / 4)
        self.ticker = Ticker(policy.heartbeat_seconds, max(tick, 0.01))

    @property
    def position(self) -> int:
        """Every change up to this position has been handed to subscribers; no change at or
        below it can still commit."""
        return self._position or 0

    @property
    def subscribers(self) -> int:
        return self._count

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, topic: Topic, principal: str) -> Subscription:
        """Register a subscriber; TooManySubscribers past either cap."""
        if self._closing:
            raise TooManySubscribers("(the server is shutting down)", 0)
        if self._count >= self.policy.max_subscribers:
            raise TooManySubscribers("in this process", self.policy.max_subscribers)
        if self._per_principal[principal] >= self.policy.max_per_principal:
            raise TooManySubscribers("for this principal", self.policy.max_per_principal)
        sub = Subscription(topic, principal, self.policy.queue_size, self.position)
        self._index(sub).add(sub)
        self._per_principal[principal] += 1
        self._count += 1
        metrics.LIVE_SUBSCRIBERS.labels(topic.kind).inc()
        return sub

    def watch(self, sub: Subscription, seconds: float, reason: Ending) -> None:
        """A stream started: the ticker sends its heartbeats and ends it (`reason`) in
        `seconds`."""
        sub.ending_at(seconds, reason)
        self.ticker.watch(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        sub.end("disconnected")  # a no-op when it already ended; the ticker lets it go
        index = self._index(sub)
        if sub not in index:
            return
        index.discard(sub)
        self._count -= 1
        self._per_principal[sub.principal] -= 1
        if not self._per_principal[sub.principal]:
            del self._per_principal[sub.principal]
        if sub.topic.order_id is not None and not index:
            del self._by_order[sub.topic.order_id]
        if sub.topic.restaurant_id is not None and not index:
            del self._by_restaurant[sub.topic.restaurant_id]
        metrics.LIVE_SUBSCRIBERS.labels(sub.topic.kind).dec()

    def _index(self, sub: Subscription) -> set[Subscription]:
        topic = sub.topic
        if topic.order_id is not None:
            return self._by_order[topic.order_id]
        if topic.restaurant_id is not None:
            return self._by_restaurant[topic.restaurant_id]
        return self._everything

    def _interested(self, change: Change) -> Iterator[Subscription]:
        yield from self._by_order.get(change.order_id, ())
        if change.restaurant_id is not None:
            yield from self._by_restaurant.get(change.restaurant_id, ())
        yield from self._everything

    def _deliver(self, change: Change) -> None:
        metrics.LIVE_DELIVERY_LAG.observe(change.age())
        change.released_at = time.monotonic()
        self._release_stage.observe(change.released_at - self._read_at)
        for sub in list(self._interested(change)):
            if sub.topic.admits(change):
                sub.offer(change)
                if sub.ended == "slow":
                    metrics.LIVE_DISCONNECTS.labels("slow").inc()

    def shutdown(self) -> None:
        """End every stream (each gets a final event with a `retry:` hint); refuse new ones."""
        self._closing = True
        for index in (*self._by_order.values(), *self._by_restaurant.values(), self._everything):
            for sub in list(index):
                sub.end("shutdown")

    # -- the worker loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the outbox until `stop`: LISTEN, catch up, deliver; reconnect on loss."""
        failures = 0
        ticking = asyncio.create_task(self.ticker.run(stop))
        try:
            while not stop.is_set():
                try:
                    await self._follow(stop)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    self.listener_pid = None
                    log.warning("live: following the outbox failed (%s); retrying", exc)
                    pause = min(0.1 * 2**failures, self.policy.poll_seconds)
                    await _wait_any(stop, None, pause)
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
        self.shutdown()

    async def _follow(self, stop: asyncio.Event) -> None:
        if self._position is None:
            self._position = await self.feed.head()
        self._lost.clear()
        async with self.feed.listen(self._woken, self._lost.set) as pid:
            self.listener_pid = pid
            await self._catch_up()  # after LISTEN: what committed while not listening
            self.ready.set()
            while not stop.is_set():
                policy = self.policy
                timeout = policy.recheck_seconds if self._waiting else policy.poll_seconds
                await _wait_any(stop, self._wake, timeout, self._lost)
                if self._lost.is_set():
                    log.warning("live: the LISTEN connection dropped; reconnecting")
                    metrics.LIVE_RECONNECTS.inc()
                    return
                self._wake.clear()
                await self._catch_up()

    async def _catch_up(self) -> None:
        # No batch larger than a subscriber's queue, and the loop yields between batches: a
        # burst fills queues only as fast as their streams cannot drain them (slow is slow).
        batch = min(self.policy.batch_size, self.policy.queue_size)
        while True:
            woken_at, self._woken_at = self._woken_at, 0.0
            started_at, started = time.time(), time.monotonic()
            released = await self.feed.since(self.position, batch)
            self._observe_reading(woken_at, started_at, started, released.changes)
            for change in released.changes:
                self._deliver(change)
                self._position = change.position
            self._waiting = released.waiting
            self._note_held(released.held)
            if len(released.changes) < batch:
                return
            await asyncio.sleep(0)

    def _note_held(self, held: tuple[int, ...]) -> None:
        """Remember when each held-back row was first seen committed (the `held` stage)."""
        if held or self._held_since:
            first_seen = self._held_since
            self._held_since = {at: first_seen.get(at, self._read_at) for at in held}

    def _woken(self) -> None:
        self._woken_at = time.time()
        self._wake.set()

    def _observe_reading(
        self, woken_at: float, started_at: float, started: float, changes: list[Change]
    ) -> None:
        """The stages up to the read that released `changes`: notify (when a wake-up, at
        `woken_at`, asked for the read), wait and read (it started at `started_at`, epoch, and
        `started`, monotonic)."""
        self._read_at = time.monotonic()
        if not changes:
            return
        stage = metrics.LIVE_STAGE.labels
        if woken_at:  # the newest row's commit most likely woke the hub
            newest = max(change.occurred_at for change in changes)
            stage("notify").observe(max(0.0, woken_at - newest))
        wait_stage, read_stage, read = stage("wait"), stage("read"), self._read_at - started
        held_stage, held_since = stage("held"), self._held_since
        for change in changes:
            wait_stage.observe(max(0.0, started_at - change.occurred_at))
            read_stage.observe(read)
            held_stage.observe(self._read_at - held_since.get(change.position, self._read_at))


async def _wait_any(
    stop: asyncio.Event, wake: asyncio.Event | None, seconds: float, *more: asyncio.Event
) -> None:
    events = [stop, *([wake] if wake is not None else []), *more]
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
