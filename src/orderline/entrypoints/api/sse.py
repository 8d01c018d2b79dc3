"""The live stream: one subscription written to its client as Server-Sent Events.

Our own ASGI response rather than FastAPI's built-in SSE (`fastapi.sse`, generator endpoints):
it must interrupt a write that a client stopped reading (the hub ends a slow subscription while
its stream is blocked in `send`) and then send a final event, and time heartbeats per the
settings (FastAPI's keep-alive interval is a module constant). It is small enough not to need
`sse-starlette` either.

A stream is authorized once, when it opens, so it does not outlive what authorized it: it ends
at its token's `exp` (final event `reauthenticate`) and after `max_stream_seconds` in any case
(final event `resume`), which also bounds a token whose key has left the JWKS: both deadlines and
the heartbeats come from the hub's one ticker, not a timer per stream. A replay sends
at most `max_replay_rows` changes; past them a `truncated` event moves the client to the live
position (it reloads the state instead of replaying without limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from orderline import metrics
from orderline.live.changes import Change
from orderline.live.hub import Hub
from orderline.live.subscription import TOLD_TO_RESUME, Ending, Subscription

HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "X-Content-Type-Options": "nosniff",  # as SecurityHeadersMiddleware sets (live_lean.py)
}
RAW_HEADERS = StreamingResponse(
    iter(()), headers=HEADERS, media_type="text/event-stream"
).raw_headers
HEARTBEAT = b": heartbeat\n\n"
STAGE = metrics.LIVE_STAGE.labels
# the final event's name and reason, by why the stream ended
FINAL_EVENTS: dict[Ending, tuple[bytes, str]] = {
    "slow": (b"resume", "slow"),
    "shutdown": (b"resume", "shutdown"),
    "lifetime": (b"resume", "lifetime"),
    "expired": (b"reauthenticate", "token-expired"),
}


class LiveStream(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(
        self,
        hub: Hub,
        sub: Subscription,
        resume_after: int | None,
        *,
        expires_at: float | None = None,
    ) -> None:
        # Not StreamingResponse.__init__ (an iterator, a header dict and list per stream):
        # the headers are encoded once; each stream gets its own copy of the list (middleware
        # may add to it).
        self.status_code = 200
        self.background = None
        self.raw_headers = list(RAW_HEADERS)
        self._hub = hub
        self._sub = sub
        self._resume_after = resume_after
        self._expires_at = expires_at  # the token's `exp` (seconds since the epoch)
        # the client's position: everything up to it was sent (or it already had it)
        self._position = sub.horizon if resume_after is None else resume_after
        self._replayed: frozenset[int] = frozenset()  # the empty one is shared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._hub.watch(self._sub, *self._deadline())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if await self._opening(send) and await self._replay(send):
                await self._live(send, functools.partial(_until_disconnect, receive))
            await self._finish(send)
        except OSError:
            pass  # the client went away while we wrote
        finally:
            self._hub.unsubscribe(self._sub)

    def _deadline(self) -> tuple[float, Ending]:
        """When the stream ends, and why: its token expires, or it reaches the lifetime cap."""
        lifetime = self._hub.policy.max_stream_seconds
        if self._expires_at is not None:
            left = max(0.0, self._expires_at - time.time())
            if left <= lifetime:
                return left, "expired"
        return lifetime, "lifetime"

    async def _opening(self, send: Send) -> bool:
        """`retry:` and, for a fresh subscription, its position as the first event id."""
        retry = b"retry: %d\n" % self._hub.policy.retry_ms
        if self._resume_after is not None:
            return await self._write(send, retry + b": resuming\n\n")
        data = orjson.dumps({"position": str(self._position)})
        return await self._write(
            send, retry + b"id: %d\nevent: ready\ndata: %s\n\n" % (self._position, data)
        )

    async def _replay(self, send: Send) -> bool:
        """What the client missed, from the outbox, up to where live delivery took over; at
        most `max_replay_rows` changes, then a `truncated` event moves it to that point."""
        after, upto = self._position, self._sub.horizon
        policy = self._hub.policy
        left = policy.max_replay_rows
        while after < upto and self._sub.ended is None:
            size = min(policy.batch_size, left + 1)  # one more than allowed: is there more?
            page = await self._hub.feed.replay(after, upto, self._sub.topic, size)
            if len(page) > left:
                return await self._replayed_page(send, page[:left]) and await self._truncated(
                    send, upto
                )
            if not await self._replayed_page(send, page):
                return False
            left -= len(page)
            if len(page) < size:
                break
            after = page[-1].position
        return True

    async def _replayed_page(self, send: Send, page: list[Change]) -> bool:
        self._replayed = frozenset(change.position for change in page)
        for change in page:
            if not await self._write(send, change.frame):
                return False
            self._sent(change.position)
        return True

    async def _truncated(self, send: Send, upto: int) -> bool:
        """The replay reached its bound: the client skips to `upto` (and reloads the state)."""
        data = orjson.dumps(
            {
                "reason": "replay-limit",
                "lastReplayedId": str(self._position),
                "resumedAt": str(upto),
            }
        )
        if not await self._write(send, b"id: %d\nevent: truncated\ndata: %s\n\n" % (upto, data)):
            return False
        self._position = max(self._position, upto)
        return True

    async def _live(self, send: Send, park: Callable[[], Awaitable[None]]) -> None:
        """Changes as they come; while none does, the stream's task reads its client (a
        disconnect ends the subscription): no second task per stream."""
        resumed_at = self._resume_after or 0
        queue_stage, write_stage = STAGE("queue"), STAGE("write")
        while True:
            change = await self._sub.next(park=park)
            if change is None:
                if self._sub.ended is not None or not await self._write(send, HEARTBEAT):
                    return
                continue
            if change.position <= resumed_at or change.position in self._replayed:
                continue  # the client had it, or the replay just sent it
            taken = time.monotonic()
            queue_stage.observe(taken - change.released_at)
            if not await self._write(send, change.frame):  # the frame encoded once, shared
                return
            write_stage.observe(time.monotonic() - taken)
            self._sent(change.position)

    def _sent(self, position: int) -> None:
        self._position = max(self._position, position)
        metrics.LIVE_EVENTS.labels(self._sub.topic.kind).inc()

    async def _write(self, send: Send, body: bytes) -> bool:
        """Write a frame; False when the hub ended the subscription meanwhile."""
        if self._sub.ended is not None:
            return False
        self._sub.writing(asyncio.current_task())
        try:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        except asyncio.CancelledError:
            if not self._sub.interrupted():
                raise
            return False
        finally:
            self._sub.writing(None)
        self._sub.active_at = time.monotonic()  # the next heartbeat counts from here
        return True

    async def _finish(self, send: Send) -> None:
        """A stream the server ended gets a last event: resume (or reauthenticate, when its
        token expired) from this id, later."""
        body = b""
        reason = self._sub.ended
        if reason == "disconnected":
            return
        if reason in TOLD_TO_RESUME:
            if reason != "slow":  # the hub counts those
                metrics.LIVE_DISCONNECTS.labels(reason).inc()
            event, why = FINAL_EVENTS[reason]
            retry = self._hub.policy.retry_ms
            data = orjson.dumps(
                {"reason": why, "lastEventId": str(self._position), "retryMs": retry}
            )
            body = b"id: %d\nevent: %s\ndata: %s\nretry: %d\n\n" % (
                self._position,
                event,
                data,
                retry,
            )
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(
                send({"type": "http.response.body", "body": body, "more_body": False}),
                self._hub.policy.final_event_timeout,
            )


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
