"""A small Server-Sent-Events client for the tests: httpx streaming, one parsed event at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    event: str | None = None
    id: str | None = None
    data: Any = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def heartbeat(self) -> bool:
        return self.event is None and self.data is None and "heartbeat" in self.comments


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, seconds: float = 10.0) -> Event:
        return await asyncio.wait_for(self._read(), seconds)

    async def changes(self, count: int, seconds: float = 10.0) -> list[Event]:
        """The next `count` change events (heartbeats and other events skipped)."""
        found: list[Event] = []
        while len(found) < count:
            event = await self.next(seconds)
            if event.event == "change":
                found.append(event)
        return found

    async def _read(self) -> Event:
        event = Event()
        data: list[str] = []
        async for line in self._lines:
            if not line:
                if data or event.event or event.comments or event.id or event.retry:
                    event.data = json.loads("\n".join(data)) if data else None
                    return event
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                event.comments.append(value)
            elif name == "data":
                data.append(value)
            elif name == "retry":
                event.retry = int(value)
            elif name in ("id", "event"):
                setattr(event, name, value)
        raise EOFError("the stream ended")


@asynccontextmanager
async def subscribe(
    base_url: str, path: str, headers: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    if last_event_id is not None:
        headers = {**headers, "Last-Event-ID": last_event_id}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        http.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, (await response.aread()).decode()
        yield Stream(response)
